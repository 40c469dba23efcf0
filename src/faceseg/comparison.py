"""Is one row really better than another? Paired comparisons of models scored on the same images.

Two models scored on the same evaluation images differ image by image far
less than either differs from a second test set, so their difference is known
much more sharply than their two separate intervals suggest. Here:

- each evaluated model's per-image scores and confusion matrices
  (``per_image.csv`` beside ``metrics.json``), from which every pooled figure
  of ``metrics.json`` can be recomputed;
- :func:`paired_difference`: the difference of a headline score (mean IoU,
  LaPa's mean F1 over the face classes) between two models on the images both
  scored, with a paired percentile-bootstrap interval (the same resampled images
  for both, each resample's confusion matrices pooled and scored as the table's
  figures are) and Wilcoxon's signed-rank test on the per-image scores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceseg.io import atomic_output
from faceseg.metrics import scores

#: Settings of every paired comparison (recorded with it).
PAIRED_LEVEL = 0.95
PAIRED_RESAMPLES = 2000
PAIRED_SEED = 0
#: Below this many shared images no comparison is made.
MIN_PAIRED_IMAGES = 5


@dataclass
class PerImageScores:
    """One model's evaluation images: ids and confusion matrices ``(n, C, C)`` (rows: truth)."""

    image_ids: list[str]
    confusions: np.ndarray
    class_names: list[str]

    def select(self, image_ids) -> np.ndarray:
        index = {i: k for k, i in enumerate(self.image_ids)}
        return self.confusions[[index[i] for i in image_ids]]


def _cell(true: str, pred: str) -> str:
    return f"px_{true}_as_{pred}"


def write_per_image_csv(path, image_ids, confusions, class_names) -> None:
    """Per image: pixels, pixel accuracy, mean IoU and F1, IoU and F1 per class, then its confusion matrix."""
    fields = (["image_id", "pixels", "pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground"]
              + [f"{s}_{c}" for c in class_names for s in ("iou", "f1")]
              + [_cell(t, p) for t in class_names for p in class_names])
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for image_id, cm in zip(image_ids, confusions):
            s = scores(cm, class_names)
            row = [image_id, int(np.asarray(cm).sum())]
            row += [s[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground")]
            row += [s["per_class"][c][k] for c in class_names for k in ("iou", "f1")]
            row += np.asarray(cm, dtype=np.int64).ravel().tolist()
            writer.writerow(["" if v is None else v for v in row])


def read_per_image_csv(path) -> PerImageScores:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
        fields = rows[0].keys() if rows else []
    class_names = [f[len("iou_"):] for f in fields if f.startswith("iou_")]
    cells = [_cell(t, p) for t in class_names for p in class_names]
    missing = [c for c in cells if c not in fields]
    if not rows or missing:
        raise ValueError(f"{path}: not a per-image score file (no rows, or no confusion columns {missing[:2]})")
    n = len(class_names)
    confusions = np.array([[int(r[c]) for c in cells] for r in rows], dtype=np.int64).reshape(-1, n, n)
    return PerImageScores([r["image_id"] for r in rows], confusions, class_names)


#: How the headline scores are named in tables and figures.
METRIC_NAMES = {"mean_iou": "mean IoU", "mean_f1_foreground": "mean F1 (face classes)", "mean_f1": "mean F1",
                "pixel_accuracy": "pixel accuracy"}


def headline(cm: np.ndarray, class_names, metric: str) -> float:
    value = scores(cm, class_names)[metric]
    return float("nan") if value is None else value


def headlines(pooled: np.ndarray, metric: str) -> np.ndarray:
    """:func:`headline` of each of many confusion matrices ``(R, C, C)`` at once (a bootstrap's resamples).

    The same definitions as :func:`faceseg.metrics.scores`: a class neither
    present nor predicted is left out of the mean; NaN where no class counts.
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    tp = np.diagonal(pooled, axis1=1, axis2=2)
    fp, fn = pooled.sum(axis=1) - tp, pooled.sum(axis=2) - tp
    if metric == "pixel_accuracy":
        total = pooled.sum(axis=(1, 2))
        return np.where(total > 0, tp.sum(axis=1) / np.maximum(total, 1), np.nan)
    if metric == "mean_iou":
        num, den = tp, tp + fp + fn
    elif metric in ("mean_f1", "mean_f1_foreground"):
        num, den = 2 * tp, 2 * tp + fp + fn
        if metric == "mean_f1_foreground":
            num, den = num[:, 1:], den[:, 1:]
    else:
        raise ValueError(f"unknown headline metric {metric!r}; choose one of {list(METRIC_NAMES)}")
    counted = den > 0
    per_class = np.where(counted, num / np.maximum(den, 1), 0.0)
    n = counted.sum(axis=1)
    return np.where(n > 0, per_class.sum(axis=1) / np.maximum(n, 1), np.nan)


def resample_weights(n_images: int, n_resamples: int = PAIRED_RESAMPLES, seed: int = PAIRED_SEED) -> np.ndarray:
    """``(n_resamples, n_images)``: how often each image is drawn in each bootstrap resample (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    return np.stack([np.bincount(d, minlength=n_images) for d in draws])


def pooled_resamples(confusions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n_resamples, C, C)``: each resample's confusion matrices summed (an image drawn twice counts twice)."""
    n, c, _ = confusions.shape
    return (weights @ confusions.reshape(n, c * c)).reshape(-1, c, c)


def paired_difference(a: np.ndarray, b: np.ndarray, class_names, metric: str, n_resamples: int = PAIRED_RESAMPLES,
                      seed: int = PAIRED_SEED, level: float = PAIRED_LEVEL) -> dict:
    """The difference ``a - b`` of ``metric`` on the same images, with its paired interval and test.

    ``a``, ``b``: ``(n_images, C, C)`` confusion matrices of two models on the
    same images in the same order. The interval resamples whole images, the
    same draw for both models, and pools each draw as the reported figures are
    pooled. The test is Wilcoxon's signed-rank test of the per-image scores
    (two-sided; exact for small samples without ties). ``verdict``: ``better``
    or ``worse`` when the interval excludes 0 and the test's p is below
    ``1 - level``, else ``no difference shown``.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"paired confusions must have one shape (n, C, C), got {a.shape} and {b.shape}")
    n = len(a)
    if n < MIN_PAIRED_IMAGES:
        raise ValueError(f"a paired comparison needs at least {MIN_PAIRED_IMAGES} shared images, got {n}")
    weights = resample_weights(n, n_resamples, seed)
    diffs = headlines(pooled_resamples(a, weights), metric) - headlines(pooled_resamples(b, weights), metric)
    alpha = 1 - level
    low, high = np.nanpercentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    per_image = headlines(a, metric) - headlines(b, metric)
    per_image = per_image[np.isfinite(per_image)]
    if per_image.size and np.any(per_image != 0):
        p_value = float(wilcoxon(per_image, zero_method="wilcox", alternative="two-sided").pvalue)
    else:
        p_value = 1.0
    difference = headline(a.sum(axis=0), class_names, metric) - headline(b.sum(axis=0), class_names, metric)
    if low > 0 and p_value < alpha:
        verdict = "better"
    elif high < 0 and p_value < alpha:
        verdict = "worse"
    else:
        verdict = "no difference shown"
    return {"metric": metric, "n_images": n, "difference": float(difference), "low": float(low),
            "high": float(high), "p_value": p_value, "verdict": verdict,
            "images_a_better": int(np.sum(per_image > 0)), "images_b_better": int(np.sum(per_image < 0)),
            "method": f"paired percentile bootstrap over images ({n_resamples} resamples, seed {seed}), "
                      "Wilcoxon signed-rank test on per-image scores", "level": level}


def compare_runs(a: PerImageScores, b: PerImageScores, metric: str) -> dict:
    """:func:`paired_difference` of two models on the images both scored, with which images only one scored."""
    if a.class_names != b.class_names:
        raise ValueError(f"the two runs have different classes: {a.class_names} and {b.class_names}")
    shared = [i for i in a.image_ids if i in set(b.image_ids)]
    result = paired_difference(a.select(shared), b.select(shared), a.class_names, metric)
    result["only_a"] = [i for i in a.image_ids if i not in set(shared)]
    result["only_b"] = [i for i in b.image_ids if i not in set(shared)]
    return result


def table_comparisons(runs: dict[str, PerImageScores], reference: str | None, metric: str) -> list[dict]:
    """The summary's comparisons: every run against ``reference``, then the models of each experiment pairwise.

    ``runs``: ``{"experiment / model": scores}`` in table order. Each result
    names its ``a`` and ``b`` (the difference is ``a - b``) and its ``kind``.
    Pairs with too few shared images are left out.
    """
    pairs = []
    if reference in runs:
        pairs += [("against the reference", label, reference) for label in runs if label != reference]
    labels = list(runs)
    seen = {frozenset(p[1:]) for p in pairs}
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            if a.split(" / ")[0] == b.split(" / ")[0] and frozenset((a, b)) not in seen:
                pairs.append(("models of one experiment", a, b))
    out = []
    for kind, a, b in pairs:
        try:
            result = compare_runs(runs[a], runs[b], metric)
        except ValueError:
            continue
        out.append({"kind": kind, "a": a, "b": b, **result})
    return out


def paired_photo_comparison(truth_deg, a_deg, b_deg, n_resamples: int = PAIRED_RESAMPLES, seed: int = PAIRED_SEED,
                            level: float = PAIRED_LEVEL) -> dict:
    """Two pose estimates of the same photos: accuracy and MAE differences ``a - b``, paired.

    Intervals: percentile bootstrap over photos (the same draw for both).
    Tests: McNemar's exact test on the photos only one method gets right
    (accuracy), Wilcoxon's signed-rank test on the absolute errors (MAE).
    """
    from scipy.stats import binomtest, wilcoxon

    t, a, b = (np.asarray(x, dtype=np.float64) for x in (truth_deg, a_deg, b_deg))
    right_a, right_b = (a == t).astype(np.float64), (b == t).astype(np.float64)
    err_a, err_b = np.abs(a - t), np.abs(b - t)
    weights = resample_weights(len(t), n_resamples, seed) / len(t)
    alpha = 1 - level
    out = {"n_images": len(t), "level": level}
    only_a, only_b = int(np.sum(right_a > right_b)), int(np.sum(right_b > right_a))
    tests = {"accuracy": binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0,
             "mae_deg": float(wilcoxon(err_a - err_b).pvalue) if np.any(err_a != err_b) else 1.0}
    for name, x, y in (("accuracy", right_a, right_b), ("mae_deg", err_a, err_b)):
        diffs = weights @ (x - y)
        low, high = np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        out[name] = {"difference": float(np.mean(x - y)), "low": float(low), "high": float(high),
                     "p_value": float(tests[name])}
    out["only_a_right"], out["only_b_right"] = only_a, only_b
    return out


def per_image_file(metrics_path) -> Path:
    """``per_image.csv`` beside a ``metrics.json``."""
    return Path(metrics_path).with_name("per_image.csv")
