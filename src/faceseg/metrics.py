"""Confusion matrices and per-class scores: IoU, F1, precision, recall."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceseg.io import atomic_output
from faceseg.provenance import describe


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts; rows are the true class, columns the prediction."""
    truth = np.asarray(truth).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction differ in size: {truth.size} vs {pred.size}")
    if truth.size and (truth.max() >= n_classes or pred.max() >= n_classes):
        raise ValueError(f"class index outside 0..{n_classes - 1}")
    return np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass
class ConfusionRecord:
    """One evaluation image's outcome: its confusion matrix, or why it was skipped.

    ``confusion_per_pixel``: the same before the spatial smoothing (None when
    the model does not smooth). The decide_labels rule writes one per image as
    JSON; the reports, the summary and the overlays read them back.
    """

    image_id: str
    model: str
    skipped: str | None = None
    confusion: np.ndarray | None = None
    confusion_per_pixel: np.ndarray | None = None

    def write(self, path) -> None:
        record = {"image_id": self.image_id, "model": self.model, "skipped": self.skipped,
                  "confusion": None if self.confusion is None else np.asarray(self.confusion).tolist()}
        if self.confusion_per_pixel is not None:
            record["confusion_per_pixel"] = np.asarray(self.confusion_per_pixel).tolist()
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(record) + "\n")

    @classmethod
    def read(cls, path) -> ConfusionRecord:
        try:
            record = json.loads(Path(path).read_text())
            matrices = {k: None if record.get(k) is None else np.asarray(record[k], np.int64)
                        for k in ("confusion", "confusion_per_pixel")}
            return cls(record["image_id"], record["model"], record["skipped"], **matrices)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a per-image confusion record ({exc})") from None


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def scores(cm: np.ndarray, class_names) -> dict:
    """Scores of a summed confusion matrix.

    A class that is neither present nor predicted has undefined (null) scores
    and is left out of the means. ``mean_f1_foreground`` is LaPa's convention:
    mean F1 over every class but the first (background).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    fp, fn = predicted - tp, support - tp
    iou = _ratio(tp, tp + fp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)

    def mean(values):
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else None

    def num(v):
        return None if np.isnan(v) else float(v)

    return {
        "pixel_accuracy": float(tp.sum() / cm.sum()) if cm.sum() else None,
        "mean_iou": mean(iou),
        "mean_f1": mean(f1),
        "mean_f1_foreground": mean(f1[1:]),
        "per_class": {
            name: {
                "iou": num(iou[i]),
                "f1": num(f1[i]),
                "precision": num(precision[i]),
                "recall": num(recall[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
    }


#: Settings of the intervals in every metrics.json (recorded there too).
INTERVAL_LEVEL = 0.95
INTERVAL_RESAMPLES = 2000
INTERVAL_SEED = 0


def bootstrap_intervals(confusions, class_names, n_resamples: int = INTERVAL_RESAMPLES,
                        level: float = INTERVAL_LEVEL, seed: int = INTERVAL_SEED) -> dict | None:
    """Percentile bootstrap intervals of pixel accuracy, mean IoU and mean F1 over images.

    ``confusions``: one confusion matrix per image, ``(n_images, C, C)``.
    Whole images are resampled, not pixels: a pixel's error is not
    independent of its neighbours', and the images are what a second test
    set would draw anew. Each resample sums its images' matrices and scores
    the sum, as the reported figures do. None with fewer than 2 images.
    """
    from scipy.stats import bootstrap

    if len(confusions) < 2:
        return None
    confusions = np.asarray(confusions, dtype=np.int64)
    if confusions.ndim != 3 or confusions.shape[1:] != (len(class_names), len(class_names)):
        raise ValueError(f"confusions must be (n_images, {len(class_names)}, {len(class_names)}), "
                         f"got {confusions.shape}")

    def statistic(index):
        s = scores(confusions[index.astype(np.int64)].sum(axis=0), class_names)
        return np.array([s["pixel_accuracy"], s["mean_iou"], s["mean_f1"]])

    result = bootstrap((np.arange(len(confusions)),), statistic, n_resamples=n_resamples, confidence_level=level,
                       method="percentile", vectorized=False, rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return {
        "method": "percentile bootstrap, images resampled",
        "level": level,
        "n_resamples": n_resamples,
        "seed": seed,
        **{name: [float(low[i]), float(high[i])] for i, name in enumerate(("pixel_accuracy", "mean_iou", "mean_f1"))},
    }


def write_reports(metrics: dict, json_path, csv_path, md_path, title: str, html_path=None) -> None:
    """Write ``metrics.json``, ``per_class.csv``, a readable ``report.md`` and, if asked, the table as HTML."""
    with atomic_output(json_path) as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")
    fields = ["class", "iou", "f1", "precision", "recall", "support"]
    with atomic_output(csv_path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for name, row in metrics["per_class"].items():
            writer.writerow([name] + [row[k] for k in fields[1:]])

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    intervals = metrics.get("intervals")

    def with_interval(key):
        if not intervals:
            return fmt(metrics[key])
        low, high = intervals[key]
        return f"{fmt(metrics[key])} ({intervals['level']:.0%} interval {low:.4f}-{high:.4f})"

    lines = [
        f"# {title}",
        "",
        f"- images scored: {metrics['n_images']}",
        f"- pixel accuracy: {with_interval('pixel_accuracy')}",
        f"- mean IoU: {with_interval('mean_iou')}",
        f"- mean F1: {with_interval('mean_f1')}",
        f"- mean F1 without background: {fmt(metrics['mean_f1_foreground'])}",
        "",
        "| class | IoU | F1 | precision | recall | support (px) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"| {name} | {fmt(row['iou'])} | {fmt(row['f1'])} | {fmt(row['precision'])} | "
            f"{fmt(row['recall'])} | {row['support']} |"
        )
    if intervals:
        lines += ["", f"Intervals: {intervals['method']} ({intervals['n_resamples']} resamples, seed "
                      f"{intervals['seed']}): how far the scores could move on another test set drawn like this one."]
    if metrics.get("provenance"):
        lines += ["", f"Made by {describe(metrics['provenance'])}."]
    if metrics.get("skipped"):
        lines += ["", f"## Skipped images ({len(metrics['skipped'])})", ""]
        lines += [f"- {s['image_id']}: {s['reason']}" for s in metrics["skipped"]]
    with atomic_output(md_path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    if html_path is not None:
        with atomic_output(html_path) as tmp:
            Path(tmp).write_text(_html_table(metrics, title, fmt))


def _html_table(metrics: dict, title: str, fmt) -> str:
    """The per-class table as a small standalone page (Snakemake's report shows HTML in place)."""
    from html import escape

    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{fmt(r['iou'])}</td><td>{fmt(r['f1'])}</td><td>{fmt(r['precision'])}</td>"
        f"<td>{fmt(r['recall'])}</td><td>{r['support']:,}</td></tr>"
        for name, r in metrics["per_class"].items()
    )
    summary = (f"{metrics['n_images']} images scored; pixel accuracy {fmt(metrics['pixel_accuracy'])}, "
               f"mean IoU {fmt(metrics['mean_iou'])}, mean F1 {fmt(metrics['mean_f1'])}")
    skipped = "".join(f"<li>{escape(s['image_id'])}: {escape(s['reason'])}</li>" for s in metrics.get("skipped", []))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 0.3em 0.8em; border-bottom: 1px solid #ccc; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
</style></head><body>
<h2>{escape(title)}</h2>
<p>{summary}</p>
<table><tr><th>class</th><th>IoU</th><th>F1</th><th>precision</th><th>recall</th><th>support (px)</th></tr>
{rows}</table>
{f"<h3>Skipped images</h3><ul>{skipped}</ul>" if skipped else ""}
</body></html>
"""
