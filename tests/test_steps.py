"""Pipeline steps on real FASSEG images: the skip path for a face that cannot be found."""

import json

import numpy as np
import pytest
import zarr
from PIL import Image

from faceseg.io import InputError, write_landmarks
from faceseg.models.decision_file import write_decision
from faceseg.segment import NOT_SEGMENTED
from faceseg.steps import extraction, scoring, segmentation, training
from faceseg.steps import landmarks as landmark_steps

FEATURES = {"colour": {"spaces": ["lab"]}, "location": {}, "landmarks": {}}
SAMPLING = {"samples_per_image": 300, "seed": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fasseg_root):
    """A tiny RF trained through the steps on two real training images with detected landmarks."""
    tmp = tmp_path_factory.mktemp("steps")
    stores = []
    for image_id in ("1", "2"):
        image = fasseg_root / "V1" / "Train_RGB" / f"{image_id}.png"
        lm = tmp / f"{image_id}.txt"
        landmark_steps.detect_landmarks(image, lm)
        store = tmp / f"{image_id}.zarr"
        labels = fasseg_root / "V1" / "Train_Labels" / f"{image_id}.png"
        extraction.extract_training_features("fasseg", image_id, image, labels, store, FEATURES, SAMPLING, lm, 68)
        stores.append(store)
    # a third training image whose landmark file says no face was found
    nolm = tmp / "3.txt"
    write_landmarks(nolm, None, "no face found by the dlib HOG and CNN detectors")
    skipped_store = tmp / "3.zarr"
    extraction.extract_training_features("fasseg", "3", fasseg_root / "V1" / "Train_RGB" / "3.png",
                                         fasseg_root / "V1" / "Train_Labels" / "3.png", skipped_store, FEATURES,
                                         SAMPLING, nolm, 68)
    stores.append(skipped_store)
    extraction.merge_training_features(stores, tmp / "train.zarr")
    training.train_model("rf", tmp / "train.zarr", tmp / "rf.joblib", {"n_estimators": 5}, info={"dataset": "fasseg"})
    return tmp


def test_training_image_without_face_is_skipped_with_reason(trained):
    g = zarr.open_group(str(trained / "3.zarr"), mode="r")
    assert g["X"].shape[0] == 0
    assert "no face found by the dlib HOG and CNN detectors" in g.attrs["skipped"]
    merged = zarr.open_group(str(trained / "train.zarr"), mode="r")
    assert merged.attrs["image_ids"] == ["1", "2"]
    assert merged.attrs["skipped"][0]["image_id"] == "3"
    assert merged["X"].shape[0] == 600


def test_test_image_without_face_is_reported_and_others_scored(trained, fasseg_root, tmp_path):
    confusions = []
    for image_id, lm in (("1", None), ("2", "noface")):
        image = fasseg_root / "V1" / "Test_RGB" / f"{image_id}.png"
        lm_path = tmp_path / f"{image_id}.txt"
        if lm:
            write_landmarks(lm_path, None, f"{image}: no face found by the dlib HOG and CNN detectors")
        else:
            landmark_steps.detect_landmarks(image, lm_path)
        out = {k: tmp_path / f"{image_id}.{k}" for k in ("labels.png", "colour.png", "json")}
        labels = fasseg_root / "V1" / "Test_Labels" / f"{image_id}.png"
        segmentation.segment_test_image(trained / "rf.joblib", "fasseg", image_id, image, labels,
                                        out["labels.png"], out["colour.png"], out["json"], lm_path, 68)
        confusions.append(out["json"])
    skipped_labels = np.asarray(Image.open(tmp_path / "2.labels.png"))
    assert (skipped_labels == NOT_SEGMENTED).all()
    assert json.loads((tmp_path / "2.json").read_text())["confusion"] is None
    metrics = scoring.evaluate(confusions, tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "m.md", "fasseg")
    assert metrics["n_images"] == 1
    assert metrics["skipped"][0]["image_id"] == "2" and "no face found" in metrics["skipped"][0]["reason"]
    assert "## Skipped images (1)" in (tmp_path / "m.md").read_text()
    assert metrics["pixel_accuracy"] > 0.5
    assert metrics["intervals"] is None, "no interval from one image"


def test_landmark_count_mismatch_names_the_file(trained, fasseg_root, tmp_path):
    lm = tmp_path / "bad.txt"
    write_landmarks(lm, np.full((5, 2), 100.0))
    with pytest.raises(InputError, match=r"bad.txt: expected 68 landmarks, the file declares 5"):
        extraction.extract_training_features("fasseg", "1", fasseg_root / "V1" / "Train_RGB" / "1.png",
                                             fasseg_root / "V1" / "Train_Labels" / "1.png", tmp_path / "x.zarr",
                                             FEATURES, SAMPLING, lm, 68)
    assert not (tmp_path / "x.zarr").exists()


def test_model_of_another_dataset_is_refused(trained, fasseg_root, tmp_path):
    image = fasseg_root / "V1" / "Test_RGB" / "1.png"
    with pytest.raises(ValueError, match=r"rf.joblib: the model's classes .* are not those of lapa"):
        segmentation.segment_test_image(trained / "rf.joblib", "lapa", "1", image, None, tmp_path / "l.png",
                                        tmp_path / "c.png", tmp_path / "c.json")
    assert list(tmp_path.iterdir()) == []


def _shard_items(fasseg_root, tmp_path, image_ids):
    items = []
    for image_id in image_ids:
        image = fasseg_root / "V1" / "Test_RGB" / f"{image_id}.png"
        lm = tmp_path / f"{image_id}.txt"
        landmark_steps.detect_landmarks(image, lm)
        items.append({"image_id": image_id, "image": image, "landmarks": lm,
                      "labels": fasseg_root / "V1" / "Test_Labels" / f"{image_id}.png"})
    return items


def _segment_and_decide(trained, items, tmp_path, decision, stride=1):
    segmentation.segment_shard(trained / "rf.joblib", "fasseg", items, tmp_path / "proba.zarr", 68, stride=stride)
    write_decision("rf", decision, tmp_path / "rf.decision.json")
    segmentation.decide_shard(tmp_path / "proba.zarr", tmp_path / "rf.decision.json", "fasseg", items,
                              tmp_path / "shard")
    return tmp_path / "shard"


@pytest.mark.parametrize("stride", [1, 4])
def test_a_shard_through_its_probability_store_equals_its_images_segmented_one_by_one(trained, fasseg_root, tmp_path,
                                                                                      stride):
    """Probabilities stored, then decided in another step: the same labels and scores as in one pass."""
    items = _shard_items(fasseg_root, tmp_path, ("1", "2"))
    decision = {"prior_correction": 0.5, "smooth_sigma": 2.0, "class_bias": {"eyes": 0.8}}
    shard = _segment_and_decide(trained, items, tmp_path, decision, stride)
    written = sorted(str(p.relative_to(shard)) for p in shard.rglob("*.*"))
    assert written == ["colour/1.png", "colour/2.png", "confusion/1.json", "confusion/2.json",
                       "labels/1.png", "labels/2.png"]
    from faceseg.models import load_model

    model = load_model(trained / "rf.joblib").with_decision(decision)
    for item in items:
        one = tmp_path / "one"
        segmentation.segment_test_image(trained / "rf.joblib", "fasseg", item["image_id"], item["image"],
                                        item["labels"], one / "l.png", one / "c.png", one / "c.json",
                                        item["landmarks"], 68, stride=stride, model=model)
        assert np.array_equal(np.asarray(Image.open(one / "l.png")),
                              np.asarray(Image.open(shard / "labels" / f"{item['image_id']}.png")))
        assert (one / "c.json").read_text() == (shard / "confusion" / f"{item['image_id']}.json").read_text()
        assert json.loads((one / "c.json").read_text())["confusion_per_pixel"] is not None


def test_probability_store_holds_the_grid_posteriors(trained, fasseg_root, tmp_path):
    from faceseg.probability_store import read_probability_shard

    items = _shard_items(fasseg_root, tmp_path, ("1",))
    segmentation.segment_shard(trained / "rf.joblib", "fasseg", items, tmp_path / "proba.zarr", 68, stride=4)
    attrs, images = read_probability_shard(tmp_path / "proba.zarr")
    h, w = Image.open(items[0]["image"]).size[::-1]
    proba = images[0].proba()
    assert attrs["stride"] == 4 and attrs["image_ids"] == ["1"] and attrs["class_names"][0] == "background"
    assert proba.shape == (-(-h // 4), -(-w // 4), 6) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=-1), 1, atol=1e-5), "class-balanced posteriors, before the prior"
    assert images[0].image_shape == (h, w) and images[0].skipped is None


def test_decision_parameters_change_the_labels_not_the_probabilities(trained, fasseg_root, tmp_path):
    items = _shard_items(fasseg_root, tmp_path, ("1",))
    plain = _segment_and_decide(trained, items, tmp_path / "a", {"smooth_sigma": 0, "prior_correction": 0})
    smooth = _segment_and_decide(trained, items, tmp_path / "b", {"smooth_sigma": 6, "prior_correction": 1})
    assert (tmp_path / "a/proba.zarr/0/proba/c/0/0/0").read_bytes() == (
        tmp_path / "b/proba.zarr/0/proba/c/0/0/0").read_bytes()
    a, b = (np.asarray(Image.open(p / "labels" / "1.png")) for p in (plain, smooth))
    assert (a != b).mean() > 0.001


def test_a_bad_image_is_skipped_with_its_reason_and_the_others_are_scored(trained, fasseg_root, tmp_path):
    items = _shard_items(fasseg_root, tmp_path, ("1", "2", "3"))
    bad = tmp_path / "2.png"
    bad.write_bytes((fasseg_root / "V1" / "Test_RGB" / "2.png").read_bytes()[:2000])
    items[1]["image"] = bad
    shard = _segment_and_decide(trained, items, tmp_path, {"smooth_sigma": 4})
    records = {i: json.loads((shard / "confusion" / f"{i}.json").read_text()) for i in ("1", "2", "3")}
    assert records["1"]["confusion"] and records["3"]["confusion"]
    assert records["2"]["confusion"] is None and f"{bad}: not a readable image" in records["2"]["skipped"]
    assert not (shard / "labels" / "2.png").exists()
    metrics = scoring.evaluate([shard / "confusion" / f"{i}.json" for i in ("1", "2", "3")], tmp_path / "m.json",
                               tmp_path / "m.csv", tmp_path / "m.md", "fasseg")
    assert metrics["n_images"] == 2 and metrics["skipped"][0]["image_id"] == "2"
    assert "not a readable image" in (tmp_path / "m.md").read_text()
    assert not list(tmp_path.glob(".*tmp*")), "no temporary folder left behind"
