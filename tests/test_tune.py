"""Cross-validation by image on the training split (python -m faceseg.tune)."""

import numpy as np
import pytest

from faceseg.config import split_records
from faceseg.tune import cross_validate, fold_of


def test_folds_are_balanced_and_seeded():
    folds = fold_of(10, 4)
    assert sorted(np.bincount(folds)) == [2, 2, 3, 3]
    assert (fold_of(10, 4) == folds).all() and not (fold_of(10, 4, seed=1) == folds).all()
    with pytest.raises(ValueError, match="folds must be between 2 and the number of images"):
        fold_of(3, 4)


def test_one_score_per_grid_point_from_the_same_fold_models(fasseg_root, tmp_path):
    config = {"dataset": "fasseg", "fasseg_root": str(fasseg_root), "fasseg_version": "V1",
              "max_images": {"train": 4}, "v3_holdout_persons": None}
    records = split_records(config, "train")
    experiment = {"features": {"colour": {"spaces": ["lab"]}, "location": {}},
                  "sampling": {"samples_per_image": 500, "seed": 0}}
    params = {"n_estimators": 5, "seed": 0, "prior_correction": 0.25, "smooth_sigma": 4}
    results = cross_validate("fasseg", records, {}, experiment, "rf", params, None, n_folds=2, tile_size=64,
                             stride=2, sigma_grid=(0, 4), stride_grid=(None, 4), workdir=tmp_path)
    assert [(r["smooth_sigma"], r["stride"]) for r in results] == [(0, 2), (0, 4), (4, 2), (4, 4)]
    n_pixels = sum(np.asarray(r["confusion_matrix"]).sum() for r in results[:1])
    assert all(np.asarray(r["confusion_matrix"]).sum() == n_pixels for r in results), "every image scored once"
    for r in results:
        assert 0.5 < r["pixel_accuracy"] <= 1 and r["prior_correction"] == 0.25
    assert results[2]["pixel_accuracy"] >= results[0]["pixel_accuracy"] - 0.01  # smoothing does not hurt much
