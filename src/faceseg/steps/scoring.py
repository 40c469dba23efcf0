"""Scores of a model over the evaluation split (rule evaluate)."""

from __future__ import annotations

import numpy as np

from faceseg.comparison import write_per_image_csv
from faceseg.data_digest import split_record
from faceseg.datasets import get_dataset
from faceseg.metrics import ConfusionRecord, bootstrap_intervals, scores, write_reports
from faceseg.models.decision_file import decision_record
from faceseg.provenance import record as provenance_record


def evaluate(confusion_paths, out_json, out_csv, out_md, dataset: str, info: dict | None = None,
             out_html=None, provenance: dict | None = None, decision_file=None, data_digests=(),
             out_per_image=None) -> dict:
    """Sum per-image confusion matrices over a split and write the reports.

    ``provenance``: the rule's code fingerprint; ``metrics.json`` records it with
    the faceseg version, the package's fingerprint and the library versions.
    ``decision_file``: the model's decision parameters, recorded with where
    they were chosen (``chosen_on``: split, images, metric and score).
    ``data_digests``: the evaluation split's shard digest files; ``data`` records their digest.
    ``out_per_image``: each scored image's scores and confusion matrix (CSV), for paired comparisons.
    """
    spec = get_dataset(dataset)
    total = np.zeros((spec.n_classes, spec.n_classes), dtype=np.int64)
    per_pixel = np.zeros_like(total)
    skipped, per_image, image_ids, n_per_pixel = [], [], [], 0
    for path in confusion_paths:
        record = ConfusionRecord.read(path)
        if record.skipped:
            skipped.append({"image_id": record.image_id, "reason": record.skipped})
        elif record.confusion is not None:
            per_image.append(record.confusion)
            image_ids.append(record.image_id)
            total += record.confusion
            if record.confusion_per_pixel is not None:
                per_pixel += record.confusion_per_pixel
                n_per_pixel += 1
    n_images = len(per_image)
    metrics = scores(total, spec.class_names)
    metrics = {
        **{k: metrics[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground")},
        "n_images": n_images,
        "intervals": bootstrap_intervals(per_image, spec.class_names),
        "skipped": skipped,
        "per_class": metrics["per_class"],
        "confusion_matrix": total.tolist(),
        "class_names": list(spec.class_names),
        **(info or {}),
        "provenance": provenance_record(provenance),
        "data": split_record(list(data_digests)),
    }
    if decision_file is not None:
        metrics["decision"] = decision_record(decision_file)
    if n_per_pixel and n_per_pixel == n_images:
        # Scores of the arg-max before spatial smoothing (the model without its post-processing).
        plain = scores(per_pixel, spec.class_names)
        metrics["per_pixel"] = {k: plain[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground",
                                                      "per_class")}
    title = " / ".join(str(info[k]) for k in ("dataset", "experiment", "model") if info and k in info) or "metrics"
    write_reports(metrics, out_json, out_csv, out_md, title, out_html)
    if out_per_image is not None:
        write_per_image_csv(out_per_image, image_ids, per_image, spec.class_names)
    return metrics


def rank_images_by_iou(confusion_paths, class_names) -> list[tuple[str, float]]:
    """``(image_id, mean IoU)`` of every scored image, best first (skipped images left out)."""
    ranked = []
    for path in confusion_paths:
        record = ConfusionRecord.read(path)
        if record.confusion is not None:
            ranked.append((record.image_id, scores(record.confusion, class_names)["mean_iou"]))
    return sorted(ranked, key=lambda item: (-item[1], item[0]))
