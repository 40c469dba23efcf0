"""Per-class arg-max factors (the ``class_bias`` decision parameter), fitted to held-out predictions."""

from __future__ import annotations

import numpy as np

from faceseg.decision import biased_argmax
from faceseg.metrics import confusion_matrix, scores

#: Factors tried for each class by :func:`fit_class_bias`: 1/8 to 8 in quarter octaves.
BIAS_FACTORS = tuple(float(f) for f in 2.0 ** np.arange(-3, 3.01, 0.25))


def _mean_iou(proba: np.ndarray, labels: np.ndarray, bias: np.ndarray, n_classes: int) -> float:
    cm = confusion_matrix(labels, biased_argmax(proba, bias), n_classes)
    return scores(cm, [str(c) for c in range(n_classes)])["mean_iou"]


def fit_class_bias(proba: np.ndarray, labels: np.ndarray, n_classes: int, factors=BIAS_FACTORS,
                   sweeps: int = 3) -> np.ndarray:
    """Per-class arg-max factors that maximise the mean IoU of ``labels``.

    ``proba`` ``(n, n_classes)``: post-processed probabilities of held-out
    pixels; ``labels`` ``(n,)`` their classes. Coordinate ascent: each class
    in turn takes the factor in ``factors`` that scores best with the others
    fixed, for up to ``sweeps`` passes. The first class keeps 1 (only ratios
    change the arg-max). Ties keep the current factor, so a class that
    gains nothing stays at 1.
    """
    proba = np.asarray(proba, dtype=np.float32)
    labels = np.asarray(labels)
    if proba.ndim != 2 or proba.shape != (len(labels), n_classes):
        raise ValueError(f"proba must be (n, {n_classes}) for {len(labels)} labels, got {proba.shape}")
    bias = np.ones(n_classes, dtype=np.float32)
    best = _mean_iou(proba, labels, bias, n_classes)
    for _ in range(sweeps):
        changed = False
        for c in range(1, n_classes):
            for factor in factors:
                trial = bias.copy()
                trial[c] = factor
                score = _mean_iou(proba, labels, trial, n_classes)
                if score > best + 1e-9:
                    best, bias, changed = score, trial, True
        if not changed:
            break
    return bias


def bias_report(parts: list, spec, n_folds: int) -> dict:
    """Class bias fitted on every held-out image, and its cross-fitted score.

    ``parts``: one ``(fold, proba rows, labels)`` per scored image. The
    cross-fitted score applies to each fold the bias fitted on the other
    folds' images, so it estimates what the fitted bias does on new images.
    """
    n = spec.n_classes
    proba = np.concatenate([p for _, p, _ in parts])
    labels = np.concatenate([y for _, _, y in parts])
    bias = fit_class_bias(proba, labels, n)
    before = np.zeros((n, n), np.int64)
    crossed = np.zeros((n, n), np.int64)
    for k in range(n_folds):
        train = [(p, y) for f, p, y in parts if f != k]
        test = [(p, y) for f, p, y in parts if f == k]
        if not train or not test:
            continue
        fold_bias = fit_class_bias(np.concatenate([p for p, _ in train]), np.concatenate([y for _, y in train]), n)
        for p, y in test:
            before += confusion_matrix(y, biased_argmax(p), n)
            crossed += confusion_matrix(y, biased_argmax(p, fold_bias), n)

    def brief(cm):
        s = scores(cm, spec.class_names)
        return {"pixel_accuracy": round(s["pixel_accuracy"], 4), "mean_iou": round(s["mean_iou"], 4),
                "iou": {name: None if v["iou"] is None else round(v["iou"], 4) for name, v in s["per_class"].items()}}

    return {"class_bias": {name: round(float(b), 4) for name, b in zip(spec.class_names, bias) if b != 1},
            "before": brief(before), "cross_fitted": brief(crossed)}
