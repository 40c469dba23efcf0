"""Cross-validation by image on the training split (python -m faceseg.tune)."""

import numpy as np
import pytest

from faceseg.config import split_records
from faceseg.tune import cross_validate, fit_class_bias, fold_of


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
