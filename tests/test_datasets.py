import numpy as np
import pytest
from PIL import Image

from faceseg.datasets import (
    FASSEG,
    LAPA,
    decode_colour_labels,
    list_images,
    load_example,
    read_labels,
)
from faceseg.io import InputError, read_image, read_landmarks


def test_fasseg_v1_split_sizes(fasseg_root):
    train = list_images("fasseg", fasseg_root, "train", "V1")
    test = list_images("fasseg", fasseg_root, "test", "V1")
    assert (len(train), len(test)) == (20, 50)
    assert all(r.label_path is not None for r in train + test)


def test_fasseg_v3_pose_folders_and_lowercase_labels(fasseg_root):
    recs = list_images("fasseg", fasseg_root, "train", "V3")
    assert len(recs) == 182
    poses = {r.image_id.split("/")[0] for r in recs}
    assert len(poses) == 13 and "+90" in poses and "0" in poses
    assert all(r.label_path is not None and "Train_labels" in str(r.label_path) for r in recs)


def test_fasseg_labels_decode_to_six_classes(fasseg_root):
    recs = list_images("fasseg", fasseg_root, "train", "V1")
    image, labels = load_example(FASSEG, recs[0])
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    present = set(np.unique(labels).tolist())
    assert present <= set(range(6))
    assert {0, 1, 2, 3, 4, 5} <= present  # a frontal face shows every class


def test_nearest_colour_decoding():
    rgb = np.array([[[250, 10, 5], [120, 5, 0], [10, 240, 250], [0, 0, 0]]], np.uint8)
    assert decode_colour_labels(rgb, FASSEG.colours).tolist() == [[0, 2, 4, 2]]


def test_bmp_and_png_both_accepted(tmp_path, fasseg_root):
    for split in ("Train", "Test"):
        for sub in ("RGB", "Labels"):
            (tmp_path / "V1" / f"{split}_{sub}").mkdir(parents=True)
    src = fasseg_root / "V1"
    Image.open(src / "Train_RGB" / "1.png").save(tmp_path / "V1" / "Train_RGB" / "1.bmp")
    Image.open(src / "Train_Labels" / "1.png").save(tmp_path / "V1" / "Train_Labels" / "1.bmp")
    Image.open(src / "Test_RGB" / "2.png").save(tmp_path / "V1" / "Test_RGB" / "2.png")
    Image.open(src / "Test_Labels" / "2.png").save(tmp_path / "V1" / "Test_Labels" / "2.bmp")
    (rec,) = list_images("fasseg", tmp_path, "train", "V1")
    image, labels = load_example(FASSEG, rec)
    ref_image, ref_labels = load_example(FASSEG, list_images("fasseg", fasseg_root, "train", "V1")[0])
    np.testing.assert_array_equal(image, ref_image)
    np.testing.assert_array_equal(labels, ref_labels)
    (rec,) = list_images("fasseg", tmp_path, "test", "V1")
    assert rec.image_path.suffix == ".png" and rec.label_path.suffix == ".bmp"


def test_lapa_fixture_layout(lapa_root):
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        recs = list_images("lapa", lapa_root, split)
        assert len(recs) == n
    rec = list_images("lapa", lapa_root, "train")[0]
    image, labels = load_example(LAPA, rec)
    assert set(np.unique(labels).tolist()) == set(range(11))
    pts = read_landmarks(rec.landmark_path, image.shape, n_points=106)
    assert pts.shape == (106, 2)


def test_lapa_label_values_outside_classes(tmp_path):
    path = tmp_path / "bad.png"
    Image.fromarray(np.full((4, 4), 12, np.uint8), mode="L").save(path)
    with pytest.raises(InputError, match=r"bad.png: label values \[12\] are outside the 11 classes"):
        read_labels(LAPA, path)


def _lapa_indices():
    """Every LaPa class once or more, as a small label map."""
    return (np.arange(6 * 11).reshape(6, 11) % 11).astype(np.uint8)


@pytest.mark.parametrize("saved_as", ["grey", "palette", "16-bit", "rgb grey", "rgb colours"])
def test_lapa_labels_are_read_as_they_were_saved(tmp_path, saved_as):
    indices = _lapa_indices()
    path = tmp_path / "labels.png"
    if saved_as == "grey":
        Image.fromarray(indices).save(path)
    elif saved_as == "palette":  # index map with a display palette: the values are the indices
        im = Image.fromarray(indices).convert("P")
        im.putpalette(LAPA.palette().ravel().tolist())
        im.save(path)
        assert Image.open(path).mode == "P"
    elif saved_as == "16-bit":
        Image.fromarray(indices.astype(np.uint16)).save(path)
        assert Image.open(path).mode.startswith("I")
    elif saved_as == "rgb grey":
        Image.fromarray(np.repeat(indices[..., None], 3, axis=2)).save(path)
    else:
        Image.fromarray(LAPA.palette()[indices]).save(path)
    labels = read_labels(LAPA, path, (6, 11, 3))
    assert labels.dtype == np.uint8 and (labels == indices).all()


def test_lapa_rgb_labels_with_other_colours_are_refused(tmp_path):
    rgb = LAPA.palette()[_lapa_indices()]
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "odd.png")
    with pytest.raises(InputError, match=r"odd.png: 1 pixels have colours that are no lapa class colour"):
        read_labels(LAPA, tmp_path / "odd.png")
    Image.fromarray(np.full((4, 4), 300, np.uint16)).save(tmp_path / "wide.png")
    with pytest.raises(InputError, match=r"wide.png: label values \[300\] are outside the 11 classes"):
        read_labels(LAPA, tmp_path / "wide.png")


def test_fasseg_palette_labels_are_read_by_colour(tmp_path, fasseg_root):
    source = fasseg_root / "V1" / "Train_Labels" / "1.png"
    Image.open(source).convert("RGB").quantize(32).save(tmp_path / "palette.png")
    decoded = read_labels(FASSEG, tmp_path / "palette.png")
    assert (decoded == read_labels(FASSEG, source)).mean() > 0.99


def test_label_size_mismatch(tmp_path):
    path = tmp_path / "lab.png"
    Image.fromarray(np.zeros((4, 5), np.uint8), mode="L").save(path)
    with pytest.raises(InputError, match=r"lab.png: label size 5x4 differs from its image 6x4"):
        read_labels(LAPA, path, (4, 6, 3))


def test_missing_and_empty_split(tmp_path):
    with pytest.raises(InputError, match="missing split folder"):
        list_images("fasseg", tmp_path, "train", "V1")
    (tmp_path / "V1" / "Train_RGB").mkdir(parents=True)
    with pytest.raises(InputError, match="Train_RGB: split folder holds no images"):
        list_images("fasseg", tmp_path, "train", "V1")
    with pytest.raises(InputError, match="missing or empty split folder"):
        list_images("lapa", tmp_path, "val")


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'celeba'"):
        list_images("celeba", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown LaPa split 'dev'"):
        list_images("lapa", tmp_path, "dev")


def test_image_without_label(tmp_path, fasseg_root):
    (tmp_path / "V1" / "Train_RGB").mkdir(parents=True)
    Image.open(fasseg_root / "V1" / "Train_RGB" / "1.png").save(tmp_path / "V1" / "Train_RGB" / "1.png")
    (rec,) = list_images("fasseg", tmp_path, "train", "V1")
    with pytest.raises(InputError, match=r"1.png: no label image found"):
        load_example(FASSEG, rec)


def test_truncated_image(tmp_path, fasseg_root):
    data = (fasseg_root / "V1" / "Train_RGB" / "1.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.png: not a readable image"):
        read_image(path)
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(InputError, match=r"text.png: not a readable image"):
        read_image(tmp_path / "text.png")


def test_config_readings(lapa_root, fasseg_root):
    from faceseg.config import dataset_root, n_landmarks, split_records

    base = {"max_images": {"train": 2}, "fasseg_version": "V1",
            "landmarks": {"fasseg": "detected", "lapa": "annotated"}}
    fasseg = {**base, "dataset": "fasseg", "fasseg_root": str(fasseg_root)}
    assert n_landmarks(fasseg) == 68 and [r.image_id for r in split_records(fasseg, "train")] == ["1", "10"]
    assert dataset_root({**fasseg, "fasseg_root": None}) == "resources/fasseg"
    lapa = {**base, "dataset": "lapa", "lapa_root": str(lapa_root)}
    assert n_landmarks(lapa) == 106 and len(split_records(lapa, "test")) == 2
    assert n_landmarks({**lapa, "landmarks": {"lapa": "detected"}}) == 68


def test_v3_person_holdout_is_person_disjoint(fasseg_root):
    from faceseg.config import dataset_tag, split_records
    from faceseg.datasets import fasseg_person, fasseg_pose

    config = {"dataset": "fasseg", "fasseg_root": str(fasseg_root), "fasseg_version": "V3",
              "max_images": {}, "v3_holdout_persons": [6, 7]}
    train, test = split_records(config, "train"), split_records(config, "test")
    assert {fasseg_person(r.image_id) for r in train} == {1, 2, 3, 4, 5}
    assert {fasseg_person(r.image_id) for r in test} == {6, 7}
    assert len(train) + len(test) == 182 and all(r.label_path is not None for r in test)
    assert {fasseg_pose(r.image_id) for r in test} == {"-90", "-75", "-60", "-45", "-30", "-15", "0", "+15", "+30",
                                                      "+45", "+60", "+75", "+90"}
    assert dataset_tag(config) == "fasseg-V3" and dataset_tag({**config, "fasseg_version": "V1"}) == "fasseg"
    with pytest.raises(ValueError, match=r"v3_holdout_persons \[9\] must be some, not all, of the persons"):
        split_records({**config, "v3_holdout_persons": [9]}, "test")
    with pytest.raises(ValueError, match="applies to dataset fasseg with fasseg_version V3 only"):
        split_records({**config, "fasseg_version": "V1"}, "test")


def test_fasseg_person_needs_a_pointing04_name():
    from faceseg.datasets import fasseg_person

    assert fasseg_person("+15/personne12152+0+15") == 12
    with pytest.raises(InputError, match="1: not a Pointing'04 file name"):
        fasseg_person("1")


def test_experiment_models_override_the_top_level_models():
    from faceseg.config import experiment_models

    config = {
        "models": {"rf": {"enabled": True, "n_estimators": 100}, "hgb": {"enabled": False, "max_iter": 200},
                   "mlp": {"enabled": True, "epochs": 30}},
        "experiments": {
            "plain": {},
            "tuned": {"models": {"rf": {"n_estimators": 10}, "hgb": {"enabled": True}, "mlp": {"enabled": False}}},
            "typo": {"models": {"svm": {}}},
        },
    }
    assert experiment_models(config, "plain") == {"rf": {"n_estimators": 100}, "mlp": {"epochs": 30}}
    assert experiment_models(config, "tuned") == {"rf": {"n_estimators": 10}, "hgb": {"max_iter": 200}}
    assert config["models"]["rf"] == {"enabled": True, "n_estimators": 100}, "the top-level entry was changed"
    with pytest.raises(ValueError, match=r"experiments.typo.models: unknown model\(s\) \['svm'\]"):
        experiment_models(config, "typo")


def test_lapa_to_dlib68_correspondence():
    """Built from a face drawn in dlib's layout: the 68 come back in order, left stays left, and the agreement
    measure reads a pure offset of definition as such."""
    from faceseg.landmarks import LAPA_TO_DLIB68, landmark_agreement, lapa_to_dlib68
    from faceseg.synthetic import lapa_points_from_dlib68

    assert len(LAPA_TO_DLIB68) == 68 and len(set(LAPA_TO_DLIB68.tolist())) == 68
    rng = np.random.default_rng(0)
    dlib = np.column_stack([np.linspace(0, 100, 68), rng.uniform(0, 100, 68)])
    lapa = lapa_points_from_dlib68(dlib)
    assert (lapa_to_dlib68(lapa) == dlib).all()
    # The image-left eye (LaPa 66-74) and brow (33-41) go to dlib's image-left ones (36-41, 17-21).
    assert set(LAPA_TO_DLIB68[36:42]) <= set(range(66, 75)) and set(LAPA_TO_DLIB68[17:22]) <= set(range(33, 42))
    assert LAPA_TO_DLIB68[0] == 0 and LAPA_TO_DLIB68[16] == 32  # the contour from the image left
    eyes = dlib.copy()
    eyes[36:42], eyes[42:48] = [40, 50], [60, 50]  # eye centres 20 px apart
    shifted = eyes + [0, 2]  # 2 px down: a tenth of the inter-ocular distance
    agreement = landmark_agreement(shifted, eyes)
    assert agreement["mean"] == pytest.approx(0.1) and agreement["offsets"]["contour"] == [0.0, 0.1]
    with pytest.raises(ValueError, match="106"):
        lapa_to_dlib68(dlib)
