"""Decision parameters chosen on a validation split from stored probabilities (rule choose_decision).

Every ``(prior_correction, smooth_sigma)`` of the grid is applied to the
validation images' stored posteriors, one job per shard (:func:`score_shard`,
rule score_decisions); the confusion matrices are summed over the split and
the pair with the best score the dataset's papers report
(:attr:`faceseg.datasets.DatasetSpec.reported_metric`) is kept
(:func:`choose_decision`); ties go to the earlier pair of the grid. No model is
refitted and no evaluation image is read.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from faceseg.datasets import get_dataset, read_labels
from faceseg.decision import bias_vector, biased_argmax, prior_weights
from faceseg.io import InputError, atomic_output
from faceseg.metrics import confusion_matrix, scores
from faceseg.models.decision_file import write_decision
from faceseg.probability_store import read_probability_shard
from faceseg.segment import canvas_proba, smoothed_at_image

log = logging.getLogger(__name__)


#: A validation image is scored on about this many of its pixels: every k-th pixel of every
#: k-th row of a larger one (:func:`score_step`). A choice between decision parameters at a
#: cost that does not grow with the image; the reported scores use every pixel.
SCORED_PIXELS = 360_000


def score_step(shape) -> int:
    """The pixel step a validation image of ``shape`` is scored at (1 up to about 1.7 x :data:`SCORED_PIXELS`)."""
    return max(1, int(round(np.sqrt(shape[0] * shape[1] / SCORED_PIXELS))))


def score_image(grid, stride: int, shape, canvas, truth, prior_weights_grid, sigma_grid, bias,
                n_classes: int) -> np.ndarray:
    """``(priors x sigmas, C, C)``: the confusion matrix of each decision pair on one validation image.

    The decisions are taken as ``decide_labels`` takes them (sigma in canvas
    pixels), at the pixels :func:`score_step` keeps.
    """
    step = score_step(shape)
    truth = truth[::step, ::step]
    out = np.zeros((len(prior_weights_grid) * len(sigma_grid), n_classes, n_classes), np.int64)
    for i, weights in enumerate(prior_weights_grid):
        on_canvas = canvas_proba(grid, stride, shape, weights, canvas)  # once per prior: decision_proba in two
        for j, sigma in enumerate(sigma_grid):
            proba = smoothed_at_image(on_canvas, canvas, sigma, step)
            out[i * len(sigma_grid) + j] = confusion_matrix(truth, biased_argmax(proba, bias), n_classes)
    return out


def score_shard(proba_store, images: list[dict], dataset: str, configured: dict, prior_grid, sigma_grid,
                out_path) -> int:
    """The confusion matrix of every ``(prior, sigma)`` pair on a validation shard, summed over its images.

    ``images``: one ``{"image_id", "labels"}`` per image (each scored by
    :func:`score_image`); images without labels, skipped by segmentation or
    with unreadable labels are left out (and logged). Writes ``pairs``, ``confusion`` and ``n_images`` to the
    ``.npz`` file ``out_path``; returns the number of images scored.
    """
    spec = get_dataset(dataset)
    labels_of = {item["image_id"]: item.get("labels") for item in images}
    pairs = list(itertools.product(prior_grid, sigma_grid))
    totals = np.zeros((len(pairs), spec.n_classes, spec.n_classes), np.int64)
    attrs, stored = read_probability_shard(proba_store)
    bias = bias_vector(configured["class_bias"], spec.class_names, f"models.{attrs['model']}.class_bias")
    weights = {prior: prior_weights(attrs, prior) for prior in prior_grid}
    n_images = 0
    for entry in stored:
        if entry.skipped or not labels_of.get(entry.image_id):
            continue
        try:
            truth = read_labels(spec, labels_of[entry.image_id], entry.image_shape)
        except InputError as exc:
            log.error("%s: left out of the choice: %s", entry.image_id, exc)
            continue
        totals += score_image(entry.proba(), attrs["stride"], entry.image_shape, entry.canvas, truth,
                              [weights[prior] for prior in prior_grid], sigma_grid, bias, spec.n_classes)
        n_images += 1
    with atomic_output(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, pairs=np.array(pairs, np.float64), confusion=totals, n_images=n_images)
    return n_images


def choose_decision(kind: str, score_files, dataset: str, configured: dict, out_path, split: str,
                    stride: int | None = None) -> dict:
    """Write a model's decision file with the best prior correction and smoothing of the scored grid.

    ``score_files``: :func:`score_shard`'s files of every validation shard;
    their matrices are summed, so the score is that of the whole split.
    ``configured``: the model's configured decision parameters (its class bias
    is kept). The file records where the choice was made and every pair's
    score. Returns the chosen parameters.
    """
    spec = get_dataset(dataset)
    pairs, total, n_images = None, None, 0
    for path in score_files:
        with np.load(path) as scored:
            if pairs is None:
                pairs, total = scored["pairs"], np.zeros_like(scored["confusion"])
            elif not np.array_equal(pairs, scored["pairs"]):
                raise InputError(f"{path}: scored on another grid than {score_files[0]}")
            total += scored["confusion"]
            n_images += int(scored["n_images"])
    if not n_images:
        raise InputError(f"no labelled validation image in {list(map(str, score_files))[:3]} to choose on")
    metric = spec.reported_metric
    found = [scores(cm, spec.class_names)[metric] for cm in total]
    # The best score; ties (and undefined scores) go to the earlier pair of the grid.
    best = max(range(len(found)), key=lambda i: (-1.0 if found[i] is None else found[i], -i))
    prior, sigma = (_number(v) for v in pairs[best])
    chosen = {**configured, "prior_correction": prior, "smooth_sigma": sigma}

    def rounded(v):
        return None if v is None else round(v, 6)

    record = {"split": split, "n_images": n_images, "metric": metric, "score": rounded(found[best]),
              "grid": [{"prior_correction": _number(p), "smooth_sigma": _number(s), "score": rounded(v)}
                       for (p, s), v in zip(pairs, found)]}
    write_decision(kind, chosen, out_path, stride=stride, chosen_on=record)
    log.info("%s: prior_correction %s, smooth_sigma %s (%s %s on %d %s images)", kind, prior, sigma, metric,
             rounded(found[best]), n_images, split)
    return chosen


def _number(value: float):
    """A grid value as the configuration wrote it: 2 stays an integer, 0.25 a float."""
    return int(value) if float(value).is_integer() else float(value)
