"""`faceseg segment` and `faceseg info`, run as a user runs them (the installed console script)."""

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceseg.datasets import FASSEG, read_labels
from faceseg.io import write_landmarks
from faceseg.metrics import confusion_matrix, scores


def faceseg(*args):
    exe = shutil.which("faceseg")
    assert exe, "the faceseg console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True)


def test_info_says_what_the_model_was_trained_on(tiny_model):
    proc = faceseg("info", tiny_model)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rf (random forest (scikit-learn))" in out
    assert "data         not recorded" in out  # trained outside the workflow: no split digests
    assert "fasseg, experiment tiny: 4 images, 8000 sampled pixels" in out
    assert "classes      background, skin, hair, eyes, nose, mouth" in out
    assert "68 landmarks per image" in out and "metrics      none found" in out
    from faceseg.provenance import package_fingerprint

    assert f"made by      faceseg 0.1.0, code {package_fingerprint()}; dlib-bin" in out
    summary = json.loads(faceseg("info", tiny_model, "--json").stdout)
    # colour: (rgb 3 + lab 3) x (value, one window mean) = 12; location 2;
    # hog: (6 orientations + magnitude) x 2 cell sizes = 14; landmarks: frame u, v + 68 x (dx, dy) = 138
    assert summary["features_per_group"] == {"colour": 12, "location": 2, "hog": 14, "landmarks": 138}
    assert summary["n_features"] == len(summary["feature_names"]) == 166
    assert summary["params"]["n_estimators"] == 20
    assert summary["provenance"]["libraries"]["scikit-learn"] and summary["provenance"]["package"]


def test_info_shows_the_metrics_the_workflow_wrote_beside_the_model(tiny_model):
    report = tiny_model.parents[3] / "reports" / "fasseg" / "tiny" / "rf" / "metrics.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    per_class = {c: {"iou": 0.5} for c in FASSEG.class_names}
    report.write_text(json.dumps({"n_images": 50, "pixel_accuracy": 0.9, "mean_iou": 0.5, "mean_f1": 0.6,
                                  "per_class": per_class}))
    try:
        out = faceseg("info", tiny_model).stdout
        assert "(50 images): pixel accuracy 0.9000, mean IoU 0.5000, mean F1 0.6000" in out
    finally:
        report.unlink()


def test_segment_a_fasseg_test_image(tiny_model, fasseg_root, tmp_path):
    photo = fasseg_root / "V1" / "Test_RGB" / "1.png"
    proc = faceseg("segment", photo, "--model", tiny_model, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 face found" in proc.stdout
    labels = np.asarray(Image.open(tmp_path / "1_labels.png"))
    truth = read_labels(FASSEG, fasseg_root / "V1" / "Test_Labels" / "1.png")
    assert labels.shape == truth.shape
    assert scores(confusion_matrix(truth, labels, 6), FASSEG.class_names)["pixel_accuracy"] > 0.8
    overlay = Image.open(tmp_path / "1_overlay.png")
    assert overlay.width > overlay.height  # photo | segmentation, side by side


def test_a_small_face_in_a_large_photo_is_rescaled(tiny_model, fasseg_root, tmp_path):
    """The test image shrunk to half size in a canvas 2.5x as large: normalisation restores the training face
    scale, and the face is segmented about as well as at full size (0.734 for this model and photo)."""
    image = Image.open(fasseg_root / "V1" / "Test_RGB" / "1.png").convert("RGB")
    truth = read_labels(FASSEG, fasseg_root / "V1" / "Test_Labels" / "1.png")
    w, h = image.size
    small = image.resize((w // 2, h // 2), Image.LANCZOS)
    canvas = Image.new("RGB", (int(w * 1.25), int(h * 1.25)), (90, 90, 90))
    canvas.paste(small, (w // 3, h // 4))
    canvas.save(tmp_path / "wide.png")
    # Ground truth of the whole canvas: the shrunk labels where the image is, background elsewhere.
    canvas_truth = np.zeros((canvas.height, canvas.width), np.uint8)
    canvas_truth[h // 4: h // 4 + h // 2, w // 3: w // 3 + w // 2] = np.asarray(
        Image.fromarray(truth).resize((w // 2, h // 2), Image.NEAREST))

    def face_iou(out_dir, *extra):
        proc = faceseg("segment", tmp_path / "wide.png", "--model", tiny_model, "-o", out_dir, *extra)
        assert proc.returncode == 0, proc.stderr
        pred = np.asarray(Image.open(out_dir / "wide_labels.png"))
        # Scored where the photo is: the plain canvas around it is no face photo's background.
        photo = (slice(h // 4, h // 4 + h // 2), slice(w // 3, w // 3 + w // 2))
        return proc.stdout, scores(confusion_matrix(canvas_truth[photo], pred[photo], 6),
                                   FASSEG.class_names)["mean_iou"]

    out, normalised = face_iou(tmp_path / "normalised")
    assert "scaled x2." in out
    _, as_is = face_iou(tmp_path / "as_is", "--no-normalise")
    print(f"mean IoU where the photo is: normalised {normalised:.3f}, as it is {as_is:.3f}")
    assert normalised > 0.68 and normalised > as_is, (normalised, as_is)


def test_photos_in_parallel_and_every_face(tiny_model, fasseg_root, tmp_path):
    left = np.asarray(Image.open(fasseg_root / "V1" / "Test_RGB" / "1.png").convert("RGB"))
    right = np.asarray(Image.open(fasseg_root / "V1" / "Test_RGB" / "2.png").convert("RGB"))
    h = min(len(left), len(right))
    Image.fromarray(np.concatenate([left[:h], right[:h]], axis=1)).save(tmp_path / "pair.png")
    photos = [tmp_path / "pair.png", fasseg_root / "V1" / "Test_RGB" / "3.png"]
    proc = faceseg("segment", *photos, "--model", tiny_model, "-o", tmp_path / "out", "--jobs", "2",
                   "--all-faces", "--stride", "4")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{photos[0]}: ") and "2 faces found" in lines[0] and "largest" not in lines[0]
    assert lines[1].startswith(f"{photos[1]}: ") and "1 face found" in lines[1]
    labels = np.asarray(Image.open(tmp_path / "out" / "pair_labels.png"))
    w = left.shape[1]
    # both faces are segmented: skin in the middle of each
    for x in (w // 2, w + right.shape[1] // 2):
        assert (labels[h // 2 - 20 : h // 2 + 20, x - 20 : x + 20] == 1).mean() > 0.4


def test_astronaut_several_faces_the_largest_is_segmented(tiny_model, tmp_path):
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    proc = faceseg("segment", tmp_path / "astronaut.png", "--model", tiny_model, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "faces found, segmented the largest" in proc.stdout or "1 face found" in proc.stdout
    labels = np.asarray(Image.open(tmp_path / "out" / "astronaut_labels.png"))
    assert labels.shape == (512, 512)
    # her face (rows 70-230, columns 160-260 of the photo) is mostly skin; the photo's corners are not
    assert (labels[110:200, 180:240] == 1).mean() > 0.5
    assert (labels[450:, :60] == 1).mean() < 0.2


def test_photo_without_a_face_fails_alone(tiny_model, fasseg_root, tmp_path):
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(tmp_path / "wall.png")
    photo = fasseg_root / "V1" / "Test_RGB" / "2.png"
    proc = faceseg("segment", tmp_path / "wall.png", photo, "--model", tiny_model, "-o", tmp_path / "out", "--no-cnn")
    assert proc.returncode == 1
    assert f"{tmp_path / 'wall.png'}: no face found by the dlib HOG detector" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["2_labels.png", "2_overlay.png"]


def test_a_file_that_is_not_a_model(tmp_path, fasseg_root):
    (tmp_path / "model.faceseg").write_text("not a model")
    proc = faceseg("segment", fasseg_root / "V1" / "Test_RGB" / "1.png", "--model", tmp_path / "model.faceseg",
                   "-o", tmp_path / "out")
    assert proc.returncode == 2
    assert f"{tmp_path / 'model.faceseg'}: not a faceseg model file" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_landmarks_that_do_not_match_the_model(tiny_model, fasseg_root, tmp_path):
    lm = tmp_path / "lm.txt"
    write_landmarks(lm, np.full((106, 2), 100.0))
    proc = faceseg("segment", fasseg_root / "V1" / "Test_RGB" / "1.png", "--model", tiny_model,
                   "--landmarks", lm, "-o", tmp_path / "out")
    assert proc.returncode == 1
    assert f"{lm}: expected 68 landmarks, the file declares 106" in proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_phone_and_16_bit_photos_segment_like_the_upright_8_bit_photo(tiny_model, fasseg_root, tmp_path):
    """A phone's portrait JPEG (stored sideways, EXIF orientation 6) and 16-bit PNGs give the labels of the
    upright 8-bit photo: the reader shows the command what a viewer shows."""
    photo = Image.open(fasseg_root / "V1" / "Test_RGB" / "1.png").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    photo.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", quality=90, exif=exif)
    # The same JPEG pixels turned upright by hand (lossless PNG): the reference the tag must give.
    stored = np.asarray(Image.open(tmp_path / "phone.jpg").convert("RGB"))
    Image.fromarray(np.ascontiguousarray(np.rot90(stored, -1))).save(tmp_path / "upright.png")
    grey = np.asarray(photo.convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    rgb16 = np.asarray(photo).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "rgb16.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    names = ("upright.png", "phone.jpg", "grey8.png", "grey16.png", "rgb16.png")
    proc = faceseg("segment", *(tmp_path / n for n in names), "--model", tiny_model, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    labels = {n: np.asarray(Image.open(tmp_path / "out" / f"{Path(n).stem}_labels.png")) for n in names}
    # The labels cover the photo as shown: upright, at the photo's size.
    assert labels["phone.jpg"].shape == labels["upright.png"].shape == grey.shape
    agreement = (labels["phone.jpg"] == labels["upright.png"]).mean()
    print(f"phone photo against its pixels turned upright: {agreement:.4f} of the pixels labelled alike")
    assert agreement > 0.99
    assert (labels["grey16.png"] == labels["grey8.png"]).all()
    rgb8 = faceseg("segment", fasseg_root / "V1" / "Test_RGB" / "1.png", "--model", tiny_model, "-o", tmp_path / "8")
    assert rgb8.returncode == 0, rgb8.stderr
    assert (labels["rgb16.png"] == np.asarray(Image.open(tmp_path / "8" / "1_labels.png"))).all()
