"""Paired comparisons: hand-worked intervals and tests on per-image confusions built by hand."""

import numpy as np
import pytest

from faceseg.comparison import (
    PerImageScores,
    compare_runs,
    paired_difference,
    pooled_resamples,
    read_per_image_csv,
    resample_weights,
    table_comparisons,
    write_per_image_csv,
)
from faceseg.metrics import scores

CLASSES = ["bg", "fg"]


def _hand_built():
    """Six images of 10 pixels (8 background, 2 face). A is perfect; B calls m = 1..6 background pixels face."""
    a = np.array([[[8, 0], [0, 2]]] * 6)
    b = np.array([[[8 - m, m], [0, 2]] for m in range(1, 7)])
    return a, b


def test_the_paired_difference_worked_by_hand():
    a, b = _hand_built()
    result = paired_difference(a, b, CLASSES, "mean_iou")
    # Pooled: A is [[48, 0], [0, 12]] (mean IoU 1); B is [[27, 21], [0, 12]]: IoU 27/48 and 12/33.
    assert result["difference"] == pytest.approx(1 - (27 / 48 + 12 / 33) / 2)
    # B's per-image mean IoU ((8 - m) / 8 + 2 / (2 + m)) / 2 is below A's 1 on every image, by six different
    # amounts: Wilcoxon's exact two-sided p is 2 / 2**6.
    assert result["p_value"] == pytest.approx(2 / 64)
    assert (result["images_a_better"], result["images_b_better"]) == (6, 0)
    # Every resample favours A, so the interval lies above 0.
    assert 0 < result["low"] <= result["difference"] <= result["high"]
    assert result["verdict"] == "better"
    swapped = paired_difference(b, a, CLASSES, "mean_iou")
    assert swapped["verdict"] == "worse" and swapped["difference"] == pytest.approx(-result["difference"])
    same = paired_difference(a, a.copy(), CLASSES, "mean_iou")
    assert (same["difference"], same["low"], same["high"], same["p_value"], same["verdict"]) == \
        (0, 0, 0, 1.0, "no difference shown")


def test_a_resample_pools_its_images_as_the_table_does():
    a, b = _hand_built()
    weights = resample_weights(6, n_resamples=50, seed=3)
    assert weights.shape == (50, 6) and (weights.sum(axis=1) == 6).all()
    pooled = pooled_resamples(b, weights)
    for w, cm in zip(weights, pooled):
        drawn = [i for i, k in enumerate(w) for _ in range(k)]  # the images this resample drew, with repeats
        direct = sum(b[i] for i in drawn)
        assert (cm == direct).all()
        assert scores(cm, CLASSES)["mean_iou"] == scores(direct, CLASSES)["mean_iou"]


@pytest.mark.parametrize("metric", ["mean_iou", "mean_f1", "mean_f1_foreground", "pixel_accuracy"])
def test_headlines_of_many_matrices_equal_the_table_scores(metric):
    """The vectorised headline score the bootstrap uses is the table's, absent classes included."""
    from faceseg.comparison import headline, headlines

    rng = np.random.default_rng(1)
    names = ["bg", "a", "b", "c"]
    cms = rng.integers(0, 50, size=(40, 4, 4))
    cms[::3, 2, :] = 0  # class b absent from the truth of some ...
    cms[::6, :, 2] = 0  # ... and from both truth and prediction of others
    assert np.allclose(headlines(cms, metric), [headline(cm, names, metric) for cm in cms])


def test_the_paired_interval_is_sharper_than_the_separate_ones():
    """Two models that share each image's difficulty: their difference is known far better than either score."""
    rng = np.random.default_rng(0)
    hard = rng.integers(0, 40, 30)  # per image, pixels both models get wrong
    a = np.array([[[100 - h, h], [0, 50]] for h in hard])
    b = np.array([[[98 - h, h + 2], [0, 50]] for h in hard])  # B: two more errors on every image
    paired = paired_difference(a, b, CLASSES, "mean_iou")
    weights = resample_weights(30)
    spread_a = np.percentile([scores(cm, CLASSES)["mean_iou"] for cm in pooled_resamples(a, weights)], [2.5, 97.5])
    assert paired["verdict"] == "better"
    assert paired["high"] - paired["low"] < (spread_a[1] - spread_a[0]) / 5


def test_per_image_csv_pools_to_the_same_figures(tmp_path):
    a, _ = _hand_built()
    ids = [f"img{i}" for i in range(6)]
    write_per_image_csv(tmp_path / "per_image.csv", ids, a, CLASSES)
    back = read_per_image_csv(tmp_path / "per_image.csv")
    assert back.image_ids == ids and back.class_names == CLASSES and (back.confusions == a).all()
    assert scores(back.confusions.sum(axis=0), CLASSES) == scores(a.sum(axis=0), CLASSES)


def test_runs_are_compared_on_the_images_both_scored():
    a, b = _hand_built()
    run_a = PerImageScores([f"i{k}" for k in range(6)], a, CLASSES)
    run_b = PerImageScores([f"i{k}" for k in range(1, 6)] + ["other"], np.concatenate([b[1:], b[:1]]), CLASSES)
    result = compare_runs(run_a, run_b, "mean_iou")
    assert result["n_images"] == 5 and result["only_a"] == ["i0"] and result["only_b"] == ["other"]
    assert result["difference"] == pytest.approx(paired_difference(a[1:], b[1:], CLASSES, "mean_iou")["difference"])
    table = table_comparisons({"x / rf": run_a, "x / mlp": run_a, "y / rf": run_b}, "x / rf", "mean_iou")
    # x / rf against x / mlp is not listed twice (once against the reference, once within the experiment).
    assert [(c["kind"], c["a"], c["b"]) for c in table] == [
        ("against the reference", "x / mlp", "x / rf"), ("against the reference", "y / rf", "x / rf")]
    table = table_comparisons({"x / rf": run_a, "x / mlp": run_a, "x / hgb": run_b}, "y / rf", "mean_iou")
    assert [(c["kind"], c["a"], c["b"]) for c in table] == [
        ("models of one experiment", "x / rf", "x / mlp"), ("models of one experiment", "x / rf", "x / hgb"),
        ("models of one experiment", "x / mlp", "x / hgb")]


def _fake_run(root, per_image: dict, decision: dict, package="abc", skipped=()):
    """A results tree as the workflow lays it out: metrics.json and per_image.csv of one FASSEG row."""
    import json

    folder = root / "results/reports/fasseg/icip2015/rf"
    folder.mkdir(parents=True)
    ids = list(per_image)
    confusions = np.array([per_image[i] for i in ids])
    full = np.zeros((len(ids), 6, 6), dtype=np.int64)
    full[:, :2, :2] = confusions
    names = ["background", "skin", "hair", "eyes", "nose", "mouth"]
    write_per_image_csv(folder / "per_image.csv", ids, full, names)
    metrics = {**scores(full.sum(axis=0), names), "decision": decision,
               "provenance": {"faceseg": "0.1.0", "package": package, "libraries": {"numpy": "2"}},
               "skipped": [{"image_id": s, "reason": "x"} for s in skipped]}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder.parents[1] / "summary.md").write_text("# fasseg: summary\n")
    return root


def test_compare_names_what_differs_and_the_paired_difference(tmp_path):
    from faceseg.compare import compare, format_report

    a, b = _hand_built()
    run_a = _fake_run(tmp_path / "a", {f"{k}": a[k] for k in range(6)}, {"smooth_sigma": 4})
    run_b = _fake_run(tmp_path / "b", {f"{k}": b[k] for k in range(1, 6)} | {"7": b[0]}, {"smooth_sigma": 1.5},
                      package="def", skipped=["9"])
    rows = compare(run_a, run_b / "results/reports/fasseg/summary.md")
    assert len(rows) == 1
    row = rows[0]
    assert row["settings"] == {"decision.smooth_sigma": (4, 1.5)}
    assert row["code"] == {"package": ("abc", "def")}
    assert row["paired"]["n_images"] == 5 and row["paired"]["only_a"] == ["0"] and row["paired"]["only_b"] == ["7"]
    # A scores higher on all five shared images, but Wilcoxon's exact p on five is 2 / 2**5 = 0.0625: not shown.
    assert row["paired"]["p_value"] == pytest.approx(2 / 32) and row["paired"]["verdict"] == "no difference shown"
    text = format_report(rows, run_a, run_b)
    assert "settings differs: decision.smooth_sigma: A 4, B 1.5" in text
    assert "images only A scored (1): 0" in text and "images only B scored (1): 7" in text
    assert "skipped only in B: 9" in text and "no difference shown" in text


def test_paired_pose_comparison_worked_by_hand():
    from faceseg.comparison import paired_photo_comparison

    truth = [0, 15, 30, 45, 60, 75, 90, -15]
    a = [0, 15, 30, 45, 60, 75, 90, 0]  # right on 7, one 15 deg off
    b = [0, 15, 0, 0, 30, 45, 60, -30]  # right on 2 (both of which a gets), the others 15-45 deg off
    c = paired_photo_comparison(truth, a, b)
    assert (c["only_a_right"], c["only_b_right"]) == (5, 0)
    assert c["accuracy"]["difference"] == pytest.approx(7 / 8 - 2 / 8)
    # McNemar's exact test: 5 discordant photos, all one way: p = 2 / 2**5.
    assert c["accuracy"]["p_value"] == pytest.approx(2 / 32)
    assert c["mae_deg"]["difference"] == pytest.approx((15 - (30 + 45 + 30 + 30 + 30 + 15)) / 8)
    assert c["accuracy"]["low"] <= c["accuracy"]["difference"] <= c["accuracy"]["high"]
