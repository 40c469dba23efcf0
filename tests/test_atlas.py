"""The label atlas: landmark-aligned transfer of training labels, and the label_atlas feature group."""

import numpy as np
import pytest
from PIL import Image

from faceseg import features
from faceseg.atlas import build_label_atlas, choose_atlas_ids, load_label_atlas
from faceseg.config import experiment_features
from faceseg.io import InputError

CLASSES = ["background", "skin", "hair"]


def _face(rng, h=120, w=100, n=12):
    """A label map of three horizontal bands, and landmarks spread over the image."""
    labels = np.zeros((h, w), np.uint8)
    labels[30:80] = 1
    labels[80:] = 2
    landmarks = np.column_stack([rng.uniform(10, w - 10, n), rng.uniform(10, h - 10, n)])
    return labels, landmarks


def _grid(h, w):
    rows, cols = np.mgrid[0:h, 0:w]
    return rows.ravel(), cols.ravel()


def test_same_landmarks_transfer_the_labels_unchanged(rng):
    labels, landmarks = _face(rng)
    atlas = build_label_atlas("train", [("a", labels, landmarks)], CLASSES)
    rows, cols = _grid(*labels.shape)
    exact = atlas.transfer(landmarks, rows, cols, step=1)
    assert exact.shape == (labels.size, 3)
    np.testing.assert_allclose(exact, np.eye(3)[labels.ravel()], atol=1e-4)
    # On the default 8 px grid: exact at the grid nodes, bilinear in between.
    out = atlas.transfer(landmarks, rows, cols).reshape(labels.shape + (3,))
    np.testing.assert_allclose(out[::8, ::8], np.eye(3)[labels[::8, ::8]], atol=1e-4)
    assert 0 < out[76, 50, 1] < 1 and 0 < out[76, 50, 2] < 1, "rows 72 (skin) and 80 (hair) blend at row 76"


def test_shifted_landmarks_read_the_labels_at_the_shifted_place(rng):
    labels, landmarks = _face(rng)
    # The atlas face sits 10 rows lower than the query face: query row r reads atlas row r + 10.
    atlas = build_label_atlas("train", [("a", labels, landmarks + (0, 10))], CLASSES)
    out = atlas.transfer(landmarks, np.array([16, 24, 64, 72]), np.array([48, 48, 48, 48]))
    np.testing.assert_allclose(out, np.eye(3)[[0, 1, 1, 2]], atol=1e-4)


def test_the_mean_over_atlas_images_and_leave_one_out(rng):
    a, lm = _face(rng)
    b = np.full_like(a, 2)
    atlas = build_label_atlas("train", [("a", a, lm), ("b", b, lm)], CLASSES)
    out = atlas.transfer(lm, np.array([50]), np.array([50]))  # skin in a, hair in b
    np.testing.assert_allclose(out, [[0, 0.5, 0.5]], atol=1e-4)
    assert atlas.without("train", "a").ids == ("b",)
    np.testing.assert_allclose(atlas.without("train", "a").transfer(lm, [50], [50]), [[0, 0, 1]], atol=1e-4)
    assert atlas.without("test", "a") is atlas, "an image of another split is not an atlas image"
    assert atlas.without("train", "c") is atlas


def test_features_named_per_class_tiles_equal_the_whole_image(rng):
    labels, lm = _face(rng)
    atlas = build_label_atlas("train", [("a", labels, lm), ("b", labels[::-1].copy(), lm)], CLASSES)
    config = {"label_atlas": {"classes": CLASSES}}
    assert features.feature_names(config) == ["atlas_background", "atlas_skin", "atlas_hair"]
    image = rng.integers(0, 256, labels.shape + (3,), dtype=np.uint8)
    whole = features.compute_features(image, config, landmarks=lm, atlas=atlas)
    assert whole.shape == labels.shape + (3,)
    np.testing.assert_allclose(whole.sum(-1), 1, atol=1e-5)
    tile = features.compute_features_tile(image, config, (37, 101), (13, 77), lm, stride=4, atlas=atlas)
    np.testing.assert_array_equal(tile, whole[37:101:4, 13:77:4])
    coords = np.array([[0, 0], [60, 40], [119, 99]])
    np.testing.assert_array_equal(features.compute_features(image, config, coords, lm, atlas=atlas),
                                  whole[coords[:, 0], coords[:, 1]])


def test_grid_nodes_equal_the_exact_computation(rng):
    labels, lm = _face(rng)
    entries = [(str(k), labels, lm + rng.normal(0, 3, lm.shape)) for k in range(4)]
    atlas = build_label_atlas("train", entries, CLASSES)
    rows, cols = _grid(*labels.shape)
    coarse = atlas.transfer(lm, rows, cols).reshape(labels.shape + (3,))
    exact = atlas.transfer(lm, rows, cols, step=1).reshape(labels.shape + (3,))
    np.testing.assert_allclose(coarse[::8, ::8], exact[::8, ::8], atol=1e-5)
    # A cell's centre is the mean of its four corner nodes (bilinear).
    corners = exact[0:105:8, 0:89:8]
    centre = (corners[:-1, :-1] + corners[1:, :-1] + corners[:-1, 1:] + corners[1:, 1:]) / 4
    np.testing.assert_allclose(coarse[4:108:8, 4:92:8], centre, atol=1e-5)


@pytest.mark.parametrize("params, message", [
    ({}, "label_atlas.classes must be the dataset's class names"),
    ({"classes": ["a", "a"]}, "label_atlas.classes must be"),
    ({"classes": CLASSES, "atlases": 0}, "label_atlas.atlases must be an integer >= 1, got 0"),
    ({"classes": CLASSES, "size": 3}, "label_atlas: unknown parameters ['size']"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=None) as err:
        features.resolve_config({"label_atlas": params})
    assert message in str(err.value)


def test_refuses_missing_atlas_other_classes_and_other_landmark_counts(rng):
    labels, lm = _face(rng)
    atlas = build_label_atlas("train", [("a", labels, lm)], CLASSES)
    image = np.zeros(labels.shape + (3,), np.uint8)
    with pytest.raises(ValueError, match="no label atlas was given"):
        features.compute_features(image, {"label_atlas": {"classes": CLASSES}}, landmarks=lm)
    with pytest.raises(ValueError, match=r"label atlas classes \['background', 'skin', 'hair'\] are not"):
        features.compute_features(image, {"label_atlas": {"classes": ["x", "y", "z"]}}, landmarks=lm, atlas=atlas)
    with pytest.raises(ValueError, match="the image has 11 landmarks, the atlas images 12"):
        features.compute_features(image, {"label_atlas": {"classes": CLASSES}}, landmarks=lm[:11], atlas=atlas)
    with pytest.raises(InputError, match="landmark counts differ"):
        build_label_atlas("train", [("a", labels, lm), ("b", labels, lm[:11])], CLASSES)
    with pytest.raises(InputError, match="none of its images has landmarks"):
        build_label_atlas("train", [("a", labels, None)], CLASSES)


def test_save_and_load(tmp_path, rng):
    labels, lm = _face(rng)
    atlas = build_label_atlas("train", [("a", labels, lm), ("b", labels[:90], lm)], CLASSES)
    atlas.save(tmp_path / "atlas.npz")
    back = load_label_atlas(tmp_path / "atlas.npz")
    assert back.ids == ("a", "b") and back.split == "train" and back.class_names == tuple(CLASSES)
    np.testing.assert_array_equal(back.labels[1], labels[:90])
    np.testing.assert_array_equal(back.landmarks, atlas.landmarks)
    (tmp_path / "bad.npz").write_bytes(b"not an atlas")
    with pytest.raises(InputError, match="bad.npz: not a faceseg label atlas"):
        load_label_atlas(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="missing.npz: label atlas file not found"):
        load_label_atlas(tmp_path / "missing.npz")


def test_choose_atlas_ids_spreads_over_the_sorted_names():
    assert choose_atlas_ids(["3", "1", "2"], 5) == ["1", "2", "3"]
    assert choose_atlas_ids([f"{i:02d}" for i in range(10)], 3) == ["00", "04", "09"]


def test_experiment_features_fill_in_the_dataset_classes():
    config = {"dataset": "fasseg", "experiments": {"e": {"features": {"location": {}, "label_atlas": {"atlases": 5}}}}}
    filled = experiment_features(config, "e")
    assert filled["label_atlas"] == {"atlases": 5,
                                     "classes": ["background", "skin", "hair", "eyes", "nose", "mouth"]}
    assert "classes" not in config["experiments"]["e"]["features"]["label_atlas"], "the config is not modified"
    config["experiments"]["e"]["features"]["label_atlas"]["classes"] = ["a", "b"]
    with pytest.raises(ValueError, match="experiments.e.features.label_atlas.classes"):
        experiment_features(config, "e")


@pytest.fixture(scope="module")
def fasseg_atlas_images(tmp_path_factory, fasseg_root):
    """``(image_id, image, labels, landmarks)`` of V1 training images 1-3, landmarks detected by dlib."""
    from faceseg.steps import landmarks as landmark_steps

    folder = tmp_path_factory.mktemp("atlas_landmarks")
    v1 = fasseg_root / "V1"
    entries = []
    for image_id in ("1", "2", "3"):
        lm = folder / f"{image_id}.txt"
        landmark_steps.detect_landmarks(v1 / "Train_RGB" / f"{image_id}.png", lm)
        entries.append((image_id, v1 / "Train_RGB" / f"{image_id}.png", v1 / "Train_Labels" / f"{image_id}.png", lm))
    return entries


def test_training_image_is_described_without_its_own_labels(tmp_path, fasseg_atlas_images):
    """An atlas image's training features equal those of an atlas built without it (real FASSEG, detected landmarks)."""
    import zarr

    from faceseg.steps import extraction
    from faceseg.steps import label_atlas as atlas_steps



    entries = fasseg_atlas_images
    atlas_steps.build_atlas("fasseg", "train", entries, tmp_path / "all.npz", 68)
    atlas_steps.build_atlas("fasseg", "train", entries[1:], tmp_path / "others.npz", 68)
    config = {"location": {}, "label_atlas": {"classes": ["background", "skin", "hair", "eyes", "nose", "mouth"]}}
    sampling = {"samples_per_image": 600, "seed": 0}
    image_id, image, labels, lm = entries[0]
    for name in ("all", "others"):
        extraction.extract_training_features("fasseg", image_id, image, labels, tmp_path / f"{name}.zarr", config,
                                             sampling, lm, 68, atlas=tmp_path / f"{name}.npz", split="train")
    x_all = zarr.open_group(str(tmp_path / "all.zarr"), mode="r")["X"][:]
    x_others = zarr.open_group(str(tmp_path / "others.zarr"), mode="r")["X"][:]
    np.testing.assert_array_equal(x_all, x_others)
    y = zarr.open_group(str(tmp_path / "all.zarr"), mode="r")["y"][:]
    atlas_cols = x_all[:, 2:]
    # The other faces' labels agree with this image's own labels on most sampled pixels, not all.
    agreement = (atlas_cols.argmax(1) == y).mean()
    assert 0.5 < agreement < 1.0


def test_model_carries_its_atlas_to_new_photos(tmp_path, fasseg_root, fasseg_atlas_images):
    """A forest on location + label_atlas: `faceseg info` names the atlas images, `faceseg segment` uses them."""
    from test_cli import faceseg

    from faceseg.datasets import FASSEG, read_labels
    from faceseg.metrics import confusion_matrix, scores
    from faceseg.models import load_model
    from faceseg.steps import extraction, training
    from faceseg.steps import label_atlas as atlas_steps

    v1 = fasseg_root / "V1"
    entries = fasseg_atlas_images
    atlas_steps.build_atlas("fasseg", "train", entries, tmp_path / "atlas.npz", 68)
    config = {"location": {}, "label_atlas": {"classes": list(FASSEG.class_names)}}
    stores = []
    for image_id, image, labels, lm in entries:
        stores.append(tmp_path / f"{image_id}.zarr")
        extraction.extract_training_features("fasseg", image_id, image, labels, stores[-1], config,
                                             {"samples_per_image": 1500, "seed": 0}, lm, 68,
                                             atlas=tmp_path / "atlas.npz", split="train")
    extraction.merge_training_features(stores, tmp_path / "train.zarr")
    model_path = tmp_path / "rf.joblib"
    training.train_model("rf", tmp_path / "train.zarr", model_path, {"n_estimators": 10, "seed": 0},
                         atlas_path=tmp_path / "atlas.npz", info={"dataset": "fasseg", "experiment": "atlas"})
    assert load_model(model_path).label_atlas.ids == ("1", "2", "3")
    info = faceseg("info", model_path)
    assert info.returncode == 0, info.stderr
    assert "label atlas  3 training images: 1, 2, 3" in info.stdout
    assert "68 landmarks per image" in info.stdout
    proc = faceseg("segment", v1 / "Test_RGB" / "1.png", "--model", model_path, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    labels = np.asarray(Image.open(tmp_path / "out" / "1_labels.png"))
    truth = read_labels(FASSEG, v1 / "Test_Labels" / "1.png")
    assert scores(confusion_matrix(truth, labels, 6), FASSEG.class_names)["pixel_accuracy"] > 0.7
    with pytest.raises(ValueError, match="includes label_atlas but no label atlas was given"):
        training.train_model("rf", tmp_path / "train.zarr", tmp_path / "no_atlas.joblib", {"n_estimators": 2})
