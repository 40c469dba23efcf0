"""Bad input at the step level: one test per case, each checking the message and that no output remains.

The configuration cases (unknown names, schema errors, missing split folders)
run through Snakemake in tests/test_workflow.py.
"""

import shutil

import numpy as np
import pytest
from PIL import Image

from faceseg.io import InputError, write_landmarks
from faceseg.models import FeatureMismatchError
from faceseg.steps import extraction, segmentation, training
from faceseg.steps import landmarks as landmark_steps

FEATURES = {"colour": {"spaces": ["lab"]}, "location": {}, "landmarks": {}}
SAMPLING = {"samples_per_image": 300, "seed": 0}


@pytest.fixture
def example(tmp_path, fasseg_root):
    """A copy of one real training image with its label and detected landmarks, and an empty output folder."""
    src = tmp_path / "src"
    src.mkdir()
    image = shutil.copy(fasseg_root / "V1" / "Train_RGB" / "1.png", src / "1.png")
    shutil.copy(fasseg_root / "V1" / "Train_Labels" / "1.png", src / "1_label.png")
    landmarks = src / "1.txt"
    landmark_steps.detect_landmarks(image, landmarks)
    out = tmp_path / "out"
    out.mkdir()
    return {"image": src / "1.png", "label": src / "1_label.png", "landmarks": landmarks, "out": out}


def extract(ex, dataset="fasseg"):
    extraction.extract_training_features(dataset, "1", ex["image"], ex["label"], ex["out"] / "1.zarr", FEATURES,
                                         SAMPLING, ex["landmarks"], 68)


def assert_fails(ex, exc_type, path, problem, dataset="fasseg"):
    with pytest.raises(exc_type) as err:
        extract(ex, dataset)
    message = str(err.value)
    assert str(path) in message, f"the message does not name {path}: {message}"
    assert problem in message
    assert list(ex["out"].iterdir()) == [], "a partial output was left behind"


def test_good_example_extracts(example):
    extract(example)
    assert [p.name for p in example["out"].iterdir()] == ["1.zarr"]


def test_truncated_image(example):
    data = example["image"].read_bytes()
    example["image"].write_bytes(data[: len(data) // 3])
    assert_fails(example, InputError, example["image"], "not a readable image")


def test_file_that_is_not_an_image(example):
    example["image"].write_text("this is not a picture\n")
    assert_fails(example, InputError, example["image"], "not a readable image")


def test_image_without_label(example):
    example["label"] = None
    assert_fails(example, InputError, example["image"], "no label image found")


def test_label_size_differs_from_image(example):
    Image.open(example["label"]).crop((0, 0, 100, 80)).save(example["label"])
    assert_fails(example, InputError, example["label"], "label size 100x80 differs from its image")


def test_label_values_outside_classes(example):
    labels = np.zeros(Image.open(example["image"]).size[::-1], np.uint8)
    labels[:5, :5] = 17
    Image.fromarray(labels, mode="L").save(example["label"])
    assert_fails(example, InputError, example["label"], "label values [17] are outside the 11 classes of lapa",
                 dataset="lapa")


def test_landmark_file_with_wrong_point_count(example):
    write_landmarks(example["landmarks"], np.full((5, 2), 100.0))
    assert_fails(example, InputError, example["landmarks"], "expected 68 landmarks, the file declares 5")


def test_landmark_file_with_non_numeric_values(example):
    lines = example["landmarks"].read_text().splitlines()
    lines[3] = "12.5 twelve"
    example["landmarks"].write_text("\n".join(lines) + "\n")
    assert_fails(example, InputError, example["landmarks"], "non-numeric landmark value on point line 3")


def test_landmark_outside_the_image(example):
    pts = np.loadtxt(example["landmarks"], skiprows=1)
    pts[10] = (5000.0, 20.0)
    write_landmarks(example["landmarks"], pts)
    assert_fails(example, InputError, example["landmarks"], "landmark(s) outside the")


def test_no_face_found_is_a_skip_with_the_reason(example, tmp_path):
    """Detected mode: an image without a face is skipped, its reason kept; it is not an error."""
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(blank)
    landmark_steps.detect_landmarks(blank, example["landmarks"], cnn_fallback=False)
    assert "no face found" in example["landmarks"].read_text()
    extract(example)
    import zarr

    store = zarr.open_group(str(example["out"] / "1.zarr"), mode="r")
    assert store["X"].shape[0] == 0 and "no face found" in store.attrs["skipped"]


def test_model_asked_to_predict_on_other_features(example, tmp_path):
    """A 68-landmark model meets 106-point landmark files: refused before anything is written."""
    extract(example)
    extraction.merge_training_features([example["out"] / "1.zarr"], tmp_path / "train.zarr")
    training.train_model("rf", tmp_path / "train.zarr", tmp_path / "rf.faceseg", {"n_estimators": 2})
    lm106 = tmp_path / "106.txt"
    write_landmarks(lm106, np.full((106, 2), 50.0))
    pred = tmp_path / "pred"
    pred.mkdir()
    mismatch = r"rf.faceseg: rf model: features do not match .*unexpected \['lm_dx_68'"
    with pytest.raises(FeatureMismatchError, match=mismatch):
        segmentation.segment_test_image(tmp_path / "rf.faceseg", "fasseg", "1", example["image"], example["label"],
                                        pred / "1.png", pred / "1_colour.png", pred / "1.json", lm106, 106)
    assert list(pred.iterdir()) == []
