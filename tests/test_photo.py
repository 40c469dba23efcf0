"""Segmenting new photos: the map onto the training framing, whole photos, tilts, several faces, the stride."""

import numpy as np
import pytest

from faceseg.datasets import FASSEG, read_labels
from faceseg.framing import frame_size, to_training_frame
from faceseg.io import read_image
from faceseg.landmarks import LandmarkDetector
from faceseg.metrics import confusion_matrix, scores
from faceseg.models import load_model
from faceseg.photo import PhotoSegmenter, face_view
from faceseg.robustness import rotated
from faceseg.segment import segment_image

FRAMING = {"scale": 100.0, "origin": [0.5, 0.4], "size": [3.0, 4.0], "n_images": 1}


def _eyes_landmarks(left, right):
    """68 points whose eye contours (36-41, 42-47) are centred on ``left`` and ``right``; the rest around them."""
    points = np.zeros((68, 2))
    points[:] = (np.asarray(left) + np.asarray(right)) / 2 + [0.0, 30.0]
    points[36:42] = left
    points[42:48] = right
    return points


def test_the_training_frame_levels_the_eyes_and_matches_the_face_scale():
    # eyes 50 px apart, the line tilted by 30 degrees
    angle = np.radians(30)
    left = np.array([200.0, 300.0])
    right = left + 50 * np.array([np.cos(angle), np.sin(angle)])
    m = to_training_frame(_eyes_landmarks(left, right), FRAMING, {"landmarks": {}})
    mapped = np.c_[np.stack([left, right]), np.ones(2)] @ m.T
    width, height = frame_size(FRAMING)
    assert (width, height) == (300.0, 400.0)
    np.testing.assert_allclose(mapped.mean(axis=0), [150.0, 160.0])  # the framing's origin
    np.testing.assert_allclose(mapped[1] - mapped[0], [100.0, 0.0], atol=1e-9)  # level, at the training scale
    view = face_view(_eyes_landmarks(left, right), FRAMING, {"landmarks": {}})
    assert view.resample and view.zoom == pytest.approx(2.0) and view.tilt_deg == pytest.approx(30.0)
    level = face_view(_eyes_landmarks([200.0, 300.0], [300.0, 301.0]), FRAMING, {"landmarks": {}})
    assert not level.resample  # less than 1 degree, the training scale: the photo is used as it is


@pytest.fixture(scope="module")
def model(tiny_model):
    return load_model(tiny_model)


@pytest.fixture(scope="module")
def test_photo(fasseg_root):
    image = read_image(fasseg_root / "V1" / "Test_RGB" / "1.png")
    truth = read_labels(FASSEG, fasseg_root / "V1" / "Test_Labels" / "1.png")
    return image, truth, LandmarkDetector().detect(image).points


def test_as_is_the_command_labels_a_photo_as_the_workflow_does(model, test_photo):
    image, _, landmarks = test_photo
    ours, _, _ = PhotoSegmenter(model, stride=4, normalise=False).labels(image, [landmarks])
    workflow = segment_image(model, image, landmarks, stride=4)
    assert (ours == workflow).mean() > 0.999


def test_normalised_a_training_framed_photo_scores_as_in_the_workflow(model, test_photo):
    image, truth, landmarks = test_photo
    ours, views, beyond = PhotoSegmenter(model, stride=4).labels(image, [landmarks])
    assert not views[0].resample and beyond == 0
    workflow = segment_image(model, image, landmarks, stride=4)
    iou = [scores(confusion_matrix(truth, pred, 6), FASSEG.class_names)["mean_iou"] for pred in (ours, workflow)]
    assert abs(iou[0] - iou[1]) < 0.01, iou


def test_a_tilted_photo_is_segmented_about_as_well_as_the_upright_one(model, test_photo):
    """Rotated by 30 degrees: normalised, the tilted photo scores close to the upright one, and better than
    the tilted photo taken as it is."""
    image, truth, landmarks = test_photo
    tilted, tilted_truth, shown = rotated(30).apply(image, truth)
    tilted_landmarks = LandmarkDetector().detect(tilted).points
    assert tilted_landmarks is not None
    upright, _, _ = PhotoSegmenter(model, stride=4).labels(image, [landmarks])
    upright_iou = scores(confusion_matrix(truth, upright, 6), FASSEG.class_names)["mean_iou"]
    results = {}
    for normalise in (True, False):
        pred, views, _ = PhotoSegmenter(model, stride=4, normalise=normalise).labels(tilted, [tilted_landmarks])
        assert pred.shape == tilted.shape[:2]
        results[normalise] = scores(confusion_matrix(tilted_truth[shown], pred[shown], 6),
                                    FASSEG.class_names)["mean_iou"]
        if normalise:
            assert views[0].resample and views[0].tilt_deg == pytest.approx(-30, abs=5)
    print(f"mean IoU: upright {upright_iou:.3f}; tilted 30 degrees, normalised {results[True]:.3f}, "
          f"as it is {results[False]:.3f}")
    # (tiny model, this photo: upright 0.734, tilted normalised 0.690, as it is 0.653)
    assert results[True] > upright_iou - 0.06
    assert results[True] > results[False] + 0.02


def test_every_face_of_a_photo_is_segmented_in_its_own_frame(model, test_photo, fasseg_root):
    image, truth, _ = test_photo
    other = read_image(fasseg_root / "V1" / "Test_RGB" / "2.png")
    other_truth = read_labels(FASSEG, fasseg_root / "V1" / "Test_Labels" / "2.png")
    h = min(image.shape[0], other.shape[0])
    pair = np.ascontiguousarray(np.concatenate([image[:h], other[:h]], axis=1))
    pair_truth = np.concatenate([truth[:h], other_truth[:h]], axis=1)
    detection = LandmarkDetector().detect(pair, all_faces=True)
    assert detection.n_faces == 2 and len(detection.faces) == 2
    labels, views, _ = PhotoSegmenter(model, stride=4, all_faces=True).labels(pair, detection.faces)
    assert len(views) == 2
    w = image.shape[1]
    for side, columns in (("left", slice(0, w)), ("right", slice(w, None))):
        miou = scores(confusion_matrix(pair_truth[:, columns], labels[:, columns], 6), FASSEG.class_names)["mean_iou"]
        print(f"{side} face: mean IoU {miou:.3f}")
        assert miou > 0.5, side


def test_the_stride_defaults_to_the_one_recorded_beside_the_model(tiny_model, tmp_path):
    import shutil

    from faceseg.decision import decision_path
    from faceseg.models.decision_file import read_decision, write_decision

    copy = tmp_path / "rf.faceseg"
    shutil.copy(tiny_model, copy)
    assert PhotoSegmenter(load_model(copy)).stride == 1  # nothing recorded: every pixel
    write_decision("rf", {"prior_correction": 1.0, "smooth_sigma": 2}, decision_path(copy), stride=4)
    model = load_model(copy)
    assert model.segmentation_stride == 4 and model.decision["smooth_sigma"] == 2
    assert PhotoSegmenter(model).stride == 4 and PhotoSegmenter(model, stride=2).stride == 2
    assert "stride" not in read_decision(decision_path(copy), "rf")


def test_the_robustness_report_scores_the_photo_not_the_canvas(tiny_model, fasseg_root):
    from faceseg.robustness import UNCHANGED, format_table, run

    results = run(tiny_model, fasseg_root, n_images=2, modes=("normalised",), changes=[UNCHANGED, rotated(30)])
    rows = {row["change"]: row for row in results["rows"]}
    assert list(rows) == ["unchanged", "rotate +30 deg", "V3 yaw 0 deg", "V3 yaw +15 deg", "V3 yaw -15 deg",
                          "V3 yaw +30 deg", "V3 yaw -30 deg"]
    assert all(row["faces_found"] == row["images"] == 2 for row in rows.values())
    image = read_image(fasseg_root / "V1" / "Test_RGB" / "1.png")
    other = read_image(fasseg_root / "V1" / "Test_RGB" / "10.png")
    photo_pixels = image.shape[0] * image.shape[1] + other.shape[0] * other.shape[1]
    assert np.sum(rows["unchanged"]["confusion"]) == photo_pixels
    # rotated onto a larger canvas, only the pixels that show the photo are scored (nearest-neighbour: +-1 %)
    assert abs(np.sum(rows["rotate +30 deg"]["confusion"]) / photo_pixels - 1) < 0.01
    table = format_table(results)
    assert table.count("\n| ") == 1 + 7 and "| unchanged | normalised | 2/2 |" in table


def test_a_model_without_landmark_features_segments_the_photo_as_it_is(fasseg_root, tmp_path):
    """No landmarks and no training framing (an icip2015-like model): the photo is segmented as it is."""
    from faceseg.steps import extraction, training

    features = {"colour": {"spaces": ["rgb"]}, "location": {}}
    store = tmp_path / "1.zarr"
    extraction.extract_training_features("fasseg", "1", fasseg_root / "V1" / "Train_RGB" / "1.png",
                                         fasseg_root / "V1" / "Train_Labels" / "1.png", store, features,
                                         {"samples_per_image": 600, "seed": 0})
    extraction.merge_training_features([store], tmp_path / "train.zarr")
    training.train_model("rf", tmp_path / "train.zarr", tmp_path / "rf.faceseg", {"n_estimators": 3, "seed": 0},
                         info={"dataset": "fasseg", "experiment": "colour"})
    model = load_model(tmp_path / "rf.faceseg")
    assert model.info.get("face_framing") is None and model.n_landmarks is None
    result = PhotoSegmenter(model, stride=4).segment(fasseg_root / "V1" / "Test_RGB" / "1.png", tmp_path / "out")
    assert result["faces"] == [] and result["faces_found"] is None
    image = read_image(fasseg_root / "V1" / "Test_RGB" / "1.png")
    labels, _, _ = PhotoSegmenter(model, stride=4).labels(image, [])
    np.testing.assert_array_equal(labels, segment_image(model, image, stride=4))
