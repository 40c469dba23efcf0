"""Decision parameters chosen on a validation split from stored probabilities (rule choose_decision).

Every ``(prior_correction, smooth_sigma)`` of the grid is applied to the
validation images' stored posteriors, the confusion matrices are summed over
the images, and the pair with the best score the dataset's papers report
(:attr:`faceseg.datasets.DatasetSpec.reported_metric`) is kept; ties go to the
earlier pair of the grid. No model is refitted and no evaluation image is read.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from faceseg.datasets import get_dataset, read_labels
from faceseg.decision import bias_vector, labels_from_proba, prior_weights
from faceseg.io import InputError
from faceseg.metrics import confusion_matrix, scores
from faceseg.models.decision_file import write_decision
from faceseg.probability_store import read_probability_shard
from faceseg.segment import proba_from_grid

log = logging.getLogger(__name__)


def grid_scores(proba_stores, images: list[dict], dataset: str, configured: dict, prior_grid, sigma_grid):
    """``({(prior, sigma): score}, n_images, metric)`` on the stored validation posteriors.

    ``images``: one ``{"image_id", "labels"}`` per validation image; images
    without labels, skipped by segmentation or with unreadable labels are left
    out (and logged).
    """
    spec = get_dataset(dataset)
    labels_of = {item["image_id"]: item.get("labels") for item in images}
    pairs = list(itertools.product(prior_grid, sigma_grid))
    totals = {pair: np.zeros((spec.n_classes, spec.n_classes), np.int64) for pair in pairs}
    n_images = 0
    for store in proba_stores:
        attrs, stored = read_probability_shard(store)
        bias = bias_vector(configured["class_bias"], spec.class_names, f"models.{attrs['model']}.class_bias")
        weights = {prior: prior_weights(attrs, prior) for prior in prior_grid}
        for entry in stored:
            if entry.skipped or not labels_of.get(entry.image_id):
                continue
            try:
                truth = read_labels(spec, labels_of[entry.image_id], entry.image_shape)
            except InputError as exc:
                log.error("%s: left out of the choice: %s", entry.image_id, exc)
                continue
            grid = entry.proba()
            for prior in prior_grid:
                proba = proba_from_grid(grid, attrs["stride"], entry.image_shape, weights[prior])
                for sigma in sigma_grid:
                    totals[(prior, sigma)] += confusion_matrix(truth, labels_from_proba(proba, sigma, bias),
                                                               spec.n_classes)
            n_images += 1
    if not n_images:
        raise InputError(f"no labelled validation image in {list(map(str, proba_stores))[:3]} to choose on")
    metric = spec.reported_metric
    return {pair: scores(cm, spec.class_names)[metric] for pair, cm in totals.items()}, n_images, metric


def choose_decision(kind: str, proba_stores, images: list[dict], dataset: str, configured: dict, prior_grid,
                    sigma_grid, out_path, split: str, stride: int | None = None) -> dict:
    """Write a model's decision file with the grid's best prior correction and smoothing on ``split``.

    ``configured``: the model's configured decision parameters (its class bias
    is kept). The file records where the choice was made and every pair's score.
    Returns the chosen parameters.
    """
    found, n_images, metric = grid_scores(proba_stores, images, dataset, configured, prior_grid, sigma_grid)
    order = list(found)
    # The best score; ties (and undefined scores) go to the earlier pair of the grid.
    best = max(order, key=lambda pair: (-1.0 if found[pair] is None else found[pair], -order.index(pair)))
    chosen = {**configured, "prior_correction": best[0], "smooth_sigma": best[1]}

    def rounded(v):
        return None if v is None else round(v, 6)

    record = {"split": split, "n_images": n_images, "metric": metric, "score": rounded(found[best]),
              "grid": [{"prior_correction": p, "smooth_sigma": s, "score": rounded(v)} for (p, s), v in found.items()]}
    write_decision(kind, chosen, out_path, stride=stride, chosen_on=record)
    log.info("%s: prior_correction %s, smooth_sigma %s (%s %s on %d %s images)", kind, best[0], best[1], metric,
             rounded(found[best]), n_images, split)
    return chosen
