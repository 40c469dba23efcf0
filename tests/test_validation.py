"""Decision parameters chosen on a validation split (faceseg.steps.validation), on a hand-made probability store."""

import json

import numpy as np
import pytest
from PIL import Image

from faceseg.datasets import FASSEG
from faceseg.probability_store import probability_shard_writer
from faceseg.steps.validation import choose_decision, score_shard

CONFIGURED = {"prior_correction": 0.5, "smooth_sigma": 2, "class_bias": {}}


def _store(tmp_path):
    """One 8 x 16 image, left half background, right half skin. The posteriors favour the right class on each
    side (skin 0.4 left, 0.7 right); the training shares make the full prior correction weigh background 4x
    skin, enough to turn the right half to background, while a quarter of it (4 ** 0.25 = 1.41) does not."""
    truth = np.zeros((8, 16), np.uint8)
    truth[:, 8:] = 1
    Image.fromarray(FASSEG.palette()[truth]).save(tmp_path / "labels.png")
    proba = np.zeros((8, 16, 6), np.float32)
    proba[:, :8, 1], proba[:, 8:, 1] = 0.4, 0.7
    proba[..., 0] = 1 - proba[..., 1]
    attrs = {"model": "rf", "stride": 1, "class_names": list(FASSEG.class_names),
             "class_pixel_counts": [800, 200, 100, 100, 100, 100], "class_sample_counts": [100] * 6}
    with probability_shard_writer(tmp_path / "val.zarr", attrs) as add:
        add("a", proba, truth.shape)
        add("b", skipped="b.png: no face found")
    return [{"image_id": "a", "labels": str(tmp_path / "labels.png")}, {"image_id": "b", "labels": None}]


@pytest.mark.parametrize("prior_grid, expected_prior", [([0, 0.25, 1], 0), ([1, 0.25, 0], 0.25)])
def test_the_best_candidate_is_chosen_and_ties_go_to_the_earlier(tmp_path, prior_grid, expected_prior):
    images = _store(tmp_path)
    assert score_shard(tmp_path / "val.zarr", images, "fasseg", CONFIGURED, prior_grid, [0, 4],
                       tmp_path / "scores.npz") == 1
    chosen = choose_decision("rf", [tmp_path / "scores.npz"], "fasseg", CONFIGURED, tmp_path / "rf.decision.json",
                             "val", stride=1)
    assert chosen == {"prior_correction": expected_prior, "smooth_sigma": 0, "class_bias": {}}
    record = json.loads((tmp_path / "rf.decision.json").read_text())
    assert record["prior_correction"] == expected_prior and record["stride"] == 1
    on = record["chosen_on"]
    assert (on["split"], on["n_images"], on["metric"], on["score"]) == ("val", 1, "mean_iou", 1.0)
    by_pair = {(g["prior_correction"], g["smooth_sigma"]): g["score"] for g in on["grid"]}
    assert by_pair[(0, 0)] == by_pair[(0.25, 0)] == 1.0
    # Full correction: all background, skin's IoU 0 and background's 0.5.
    assert by_pair[(1, 0)] == pytest.approx(0.25)
    assert by_pair[(0, 4)] < 1.0  # smoothing moves the border


def test_shards_scored_on_different_grids_are_refused(tmp_path):
    images = _store(tmp_path)
    score_shard(tmp_path / "val.zarr", images, "fasseg", CONFIGURED, [0], [0], tmp_path / "one.npz")
    score_shard(tmp_path / "val.zarr", images, "fasseg", CONFIGURED, [0, 1], [0], tmp_path / "two.npz")
    with pytest.raises(Exception, match="two.npz: scored on another grid"):
        choose_decision("rf", [tmp_path / "one.npz", tmp_path / "two.npz"], "fasseg", CONFIGURED,
                        tmp_path / "d.json", "val")
    assert not (tmp_path / "d.json").exists()
