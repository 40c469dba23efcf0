"""Cross-validation by image on the training split (python -m faceseg.tune)."""

import json
from pathlib import Path

import numpy as np
import pytest

from faceseg.class_bias import fit_class_bias
from faceseg.config import split_records
from faceseg.metrics import scores
from faceseg.tune import (
    cross_validate,
    fold_of,
    main,
    paired_difference,
    repeated_cross_validate,
)

REPO_CONFIG = str(Path(__file__).resolve().parents[1] / "config.yaml")


def test_folds_are_balanced_and_seeded():
    folds = fold_of(10, 4)
    assert sorted(np.bincount(folds)) == [2, 2, 3, 3]
    assert (fold_of(10, 4) == folds).all() and not (fold_of(10, 4, seed=1) == folds).all()
    with pytest.raises(ValueError, match="folds must be between 2 and the number of images"):
        fold_of(3, 4)


#: A small experiment for the cross-validation tests: Lab colour and location.
TINY_EXPERIMENT = {"features": {"colour": {"spaces": ["lab"]}, "location": {}},
                   "sampling": {"samples_per_image": 500, "seed": 0}}


def _four_training_images(fasseg_root):
    return {"dataset": "fasseg", "fasseg_root": str(fasseg_root), "fasseg_version": "V1",
            "max_images": {"train": 4}, "v3_holdout_persons": None}


def test_one_score_per_grid_point_from_the_same_fold_models(fasseg_root, tmp_path):
    records = split_records(_four_training_images(fasseg_root), "train")
    params = {"n_estimators": 5, "seed": 0, "prior_correction": 0.25, "smooth_sigma": 4}
    results = cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", params, None, n_folds=2, tile_size=64,
                             stride=2, sigma_grid=(0, 4), stride_grid=(None, 4), workdir=tmp_path)
    assert [(r["smooth_sigma"], r["stride"]) for r in results] == [(0, 2), (0, 4), (4, 2), (4, 4)]
    n_pixels = sum(np.asarray(r["confusion_matrix"]).sum() for r in results[:1])
    assert all(np.asarray(r["confusion_matrix"]).sum() == n_pixels for r in results), "every image scored once"
    for r in results:
        assert 0.5 < r["pixel_accuracy"] <= 1 and r["prior_correction"] == 0.25
    assert results[2]["pixel_accuracy"] >= results[0]["pixel_accuracy"] - 0.01  # smoothing does not hurt much
    # Per-fold scores: one per fold, their pixels add up to the pooled matrix, and the
    # pooled accuracy is their pixel-weighted mean.
    folds = results[0]["folds"]
    assert [f["fold"] for f in folds] == [0, 1] and sum(f["n_pixels"] for f in folds) == n_pixels
    pooled = sum(f["pixel_accuracy"] * f["n_pixels"] for f in folds) / n_pixels
    assert pooled == pytest.approx(results[0]["pixel_accuracy"])
    assert all(0 < f["mean_iou"] <= 1 for f in folds)


def test_class_bias_fit_undoes_an_over_predicted_class():
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=20000, p=[0.6, 0.3, 0.1])
    # Noisy scores of the true class, and class 2 inflated 3x: it takes pixels of 0 and 1.
    proba = rng.uniform(0, 1, size=(len(labels), 3)).astype(np.float32)
    proba[np.arange(len(labels)), labels] += 0.8
    proba[:, 2] *= 3
    bias = fit_class_bias(proba, labels, 3)
    assert bias[0] == 1 and 0.25 <= bias[2] <= 0.5  # about 1/3, from the grid of quarter octaves
    before = (proba.argmax(1) == labels).mean()
    after = ((proba * bias).argmax(1) == labels).mean()
    assert after > before + 0.05
    # Already calibrated scores: nothing to gain, every factor stays 1.
    clean = np.eye(3, dtype=np.float32)[labels]
    np.testing.assert_array_equal(fit_class_bias(clean, labels, 3), [1, 1, 1])
    with pytest.raises(ValueError, match=r"proba must be \(n, 3\) for 20000 labels"):
        fit_class_bias(proba[:, :2], labels, 3)


def test_cross_validation_fits_and_cross_fits_a_class_bias(fasseg_root, tmp_path):
    records = split_records(_four_training_images(fasseg_root), "train")
    params = {"n_estimators": 5, "seed": 0, "prior_correction": 0, "smooth_sigma": 2}
    (result,) = cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", params, None, n_folds=2, tile_size=64,
                               stride=4, workdir=tmp_path, fit_bias=True)
    fit = result["class_bias_fit"]
    assert set(fit) == {"class_bias", "before", "cross_fitted"}
    assert set(fit["class_bias"]) <= {"skin", "hair", "eyes", "nose", "mouth"}  # background is the reference
    assert all(0.125 <= f <= 8 for f in fit["class_bias"].values())
    # The score before the bias, on every second pixel, is close to the full-resolution one.
    assert abs(fit["before"]["pixel_accuracy"] - result["pixel_accuracy"]) < 0.01
    assert 0 < fit["cross_fitted"]["mean_iou"] <= 1


def test_repeats_draw_new_folds_and_samples_and_pool_their_scores(fasseg_root, tmp_path):
    records = split_records(_four_training_images(fasseg_root), "train")
    params = {"n_estimators": 5, "seed": 0, "prior_correction": 0.25, "smooth_sigma": 2}
    common = dict(n_folds=2, tile_size=64, stride=4, workdir=tmp_path)
    (plain,) = cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", params, None, **common)
    (result,) = repeated_cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", params, None, repeats=2,
                                        **common)
    first, second = result["repeats"]
    assert (first["fold_seed"], first["sampling_seed"], first["model_seed"]) == (0, 0, 0)
    assert (second["fold_seed"], second["sampling_seed"], second["model_seed"]) == (1, 1, 1)
    # Repeat 0 is the plain cross-validation; repeat 1 differs (other folds, samples, trees).
    assert first["mean_iou"] == pytest.approx(plain["mean_iou"])
    assert first["pixel_accuracy"] == pytest.approx(plain["pixel_accuracy"])
    assert second["mean_iou"] != pytest.approx(first["mean_iou"], abs=1e-9)
    # Pooled: every image scored once per repeat, scores of the summed matrix.
    total = np.asarray(result["confusion_matrix"])
    assert total.sum() == 2 * np.asarray(plain["confusion_matrix"]).sum()
    assert result["mean_iou"] == pytest.approx(scores(total, ["background", "skin", "hair", "eyes", "nose",
                                                              "mouth"])["mean_iou"])
    assert sorted((f["repeat"], f["fold"]) for f in result["folds"]) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # A result compared with itself: zero difference in every repeat.
    same = paired_difference(result, result)
    assert same["mean_iou"]["differences"] == [0, 0] and same["mean_iou"]["higher"] == 0


def test_repeats_are_validated(fasseg_root):
    records = split_records(_four_training_images(fasseg_root), "train")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"repeats must be an integer >= 1, got {bad!r}"):
            repeated_cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", {}, None, repeats=bad)
    with pytest.raises(ValueError, match="fit_bias needs repeats=1"):
        repeated_cross_validate("fasseg", records, {}, TINY_EXPERIMENT, "rf", {}, None, repeats=2, fit_bias=True)


def _repeat(r, miou, sampling_seed=None):
    return {"repeat": r, "fold_seed": r, "sampling_seed": r if sampling_seed is None else sampling_seed,
            "model_seed": r, "mean_iou": miou, "pixel_accuracy": 0.9}


def test_paired_difference_compares_repeat_by_repeat_and_refuses_unpaired_runs():
    base = {"repeats": [_repeat(0, 0.70), _repeat(1, 0.75), _repeat(2, 0.72)]}
    other = {"repeats": [_repeat(0, 0.71), _repeat(1, 0.74), _repeat(2, 0.74)]}
    diff = paired_difference(other, base)["mean_iou"]
    assert diff["differences"] == pytest.approx([0.01, -0.01, 0.02])
    assert diff["mean"] == pytest.approx(0.02 / 3) and diff["higher"] == 2 and diff["n"] == 3
    assert diff["sd"] == pytest.approx(np.std([0.01, -0.01, 0.02], ddof=1))
    shifted = {"repeats": [_repeat(0, 0.7, sampling_seed=5)]}
    with pytest.raises(ValueError, match=r"no repeat with .* = \(0, 0, 5, 0\)"):
        paired_difference(shifted, base)
    with pytest.raises(ValueError, match="both results need 'repeats'"):
        paired_difference({"mean_iou": 0.7}, base)


def test_command_line_repeats_and_baseline(fasseg_root, tmp_path, capsys):
    args = ["--config", REPO_CONFIG, "--set", f"fasseg_root={fasseg_root}", "--set", "max_images.train=4",
            "--set", "models.rf.n_estimators=5", "--set", "segmentation.stride=4",
            "--experiment", "rees2019-grey-loc", "--model", "rf", "--folds", "2", "--repeats", "2",
            "--threads", "1"]
    assert main(args + ["--output", str(tmp_path / "base.json")]) == 0
    base = json.loads((tmp_path / "base.json").read_text())
    assert len(base) == 1 and len(base[0]["repeats"]) == 2 and base[0]["settings"]["repeats"] == 2
    capsys.readouterr()
    # More trees, same repeats: paired differences against the first run.
    assert main(args + ["--set", "models.rf.n_estimators=10", "--baseline", str(tmp_path / "base.json")]) == 0
    out = capsys.readouterr().out
    assert "#   repeat 1: mIoU" in out and "over 2 repeats: mIoU mean" in out
    assert "vs baseline: mIoU " in out and "of 2 repeats" in out
    with pytest.raises(SystemExit, match="not an --output of python -m faceseg.tune"):
        (tmp_path / "bad.json").write_text("{}")
        main(args + ["--baseline", str(tmp_path / "bad.json")])
