import numpy as np
import pytest

from faceseg.metrics import bootstrap_intervals, confusion_matrix, scores


def test_confusion_matrix_by_hand():
    truth = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    cm = confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_scores_by_hand():
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    s = scores(cm, ["bg", "a", "b"])
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)
    # bg: tp 1, fp 1, fn 1 -> iou 1/3, f1 2/4; a: tp 2, fp 1, fn 0 -> iou 2/3, f1 4/5; b: tp 1, fp 0, fn 1
    assert s["per_class"]["bg"]["iou"] == pytest.approx(1 / 3)
    assert s["per_class"]["a"]["iou"] == pytest.approx(2 / 3)
    assert s["per_class"]["b"]["iou"] == pytest.approx(1 / 2)
    assert s["per_class"]["a"]["f1"] == pytest.approx(0.8)
    assert s["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert s["per_class"]["b"]["recall"] == pytest.approx(0.5)
    assert s["per_class"]["b"]["support"] == 2
    assert s["mean_iou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s["mean_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert s["mean_f1_foreground"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_absent_class_is_left_out_of_the_means():
    cm = np.array([[3, 0, 0], [0, 1, 0], [0, 0, 0]])
    s = scores(cm, ["bg", "a", "never"])
    assert s["per_class"]["never"]["iou"] is None
    assert s["mean_iou"] == pytest.approx(1.0)


def test_confusion_checks():
    with pytest.raises(ValueError, match="differ in size"):
        confusion_matrix(np.zeros(3), np.zeros(4), 2)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 5]), np.array([0, 1]), 2)


def _image(correct, wrong):
    """A 2-class confusion matrix: ``correct`` and ``wrong`` pixels of class 0 and of class 1."""
    return np.array([[correct, wrong], [wrong, correct]])


def test_bootstrap_interval_of_identical_images_is_the_point():
    iv = bootstrap_intervals([_image(45, 5)] * 10, ["a", "b"])
    assert iv["pixel_accuracy"] == pytest.approx([0.9, 0.9]) and iv["mean_iou"][0] == pytest.approx(iv["mean_iou"][1])
    assert iv["level"] == 0.95 and iv["n_resamples"] == 2000 and "images resampled" in iv["method"]


def test_bootstrap_interval_matches_the_spread_of_images():
    # Half the images at accuracy 0.9, half at 0.7, equal sizes: the pooled accuracy is
    # 0.8, and the mean of 40 such images has standard error 0.1 / sqrt(40).
    confusions = [_image(45, 5)] * 20 + [_image(35, 15)] * 20
    iv = bootstrap_intervals(confusions, ["a", "b"])
    half_width = 1.96 * 0.1 / np.sqrt(40)
    assert iv["pixel_accuracy"][0] == pytest.approx(0.8 - half_width, abs=0.006)
    assert iv["pixel_accuracy"][1] == pytest.approx(0.8 + half_width, abs=0.006)
    assert bootstrap_intervals(confusions, ["a", "b"]) == iv, "seeded"
    narrow = bootstrap_intervals(confusions, ["a", "b"], level=0.5)
    assert iv["pixel_accuracy"][0] < narrow["pixel_accuracy"][0] < 0.8 < narrow["pixel_accuracy"][1]


def test_bootstrap_interval_needs_two_images_of_the_right_shape():
    assert bootstrap_intervals([_image(45, 5)], ["a", "b"]) is None
    with pytest.raises(ValueError, match=r"confusions must be \(n_images, 3, 3\), got \(2, 2, 2\)"):
        bootstrap_intervals([_image(45, 5)] * 2, ["a", "b", "c"])


def test_confusion_records_round_trip_and_a_bad_one_names_its_file(tmp_path):
    import numpy as np

    from faceseg.metrics import ConfusionRecord

    cm = np.arange(9).reshape(3, 3)
    ConfusionRecord("a", "rf", confusion=cm, confusion_per_pixel=cm.T).write(tmp_path / "a.json")
    ConfusionRecord("b", "mlp", skipped="b.png: truncated").write(tmp_path / "b.json")
    a, b = ConfusionRecord.read(tmp_path / "a.json"), ConfusionRecord.read(tmp_path / "b.json")
    assert (a.image_id, a.model, a.skipped) == ("a", "rf", None)
    np.testing.assert_array_equal(a.confusion, cm)
    np.testing.assert_array_equal(a.confusion_per_pixel, cm.T)
    assert b.confusion is None and b.confusion_per_pixel is None and b.skipped == "b.png: truncated"
    (tmp_path / "bad.json").write_text('{"image_id": "c"}')
    with pytest.raises(ValueError, match=r"bad.json: not a per-image confusion record"):
        ConfusionRecord.read(tmp_path / "bad.json")
