"""The report's figures (rules plot_confusion, plot_iou_by_class, plot_overlays, plot_feature_importance)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from faceseg.datasets import get_dataset, read_labels
from faceseg.io import atomic_output, read_image
from faceseg.models import load_model
from faceseg.steps.scoring import rank_images_by_iou

log = logging.getLogger(__name__)


def plot_confusion(metrics_json, out_png) -> None:
    from faceseg import plots

    metrics = json.loads(Path(metrics_json).read_text())
    title = " / ".join(str(metrics[k]) for k in ("dataset", "experiment", "model") if k in metrics)
    plots.confusion_heatmap(metrics["confusion_matrix"], metrics["class_names"], out_png,
                            f"{title}: confusion (rows sum to 1)")


def plot_iou_comparison(metrics_jsons, out_png, dataset: str) -> None:
    """Per-class IoU of every experiment and model on one figure."""
    from faceseg import plots

    runs = {}
    for path in metrics_jsons:
        m = json.loads(Path(path).read_text())
        runs[f"{m.get('experiment', '?')} / {m.get('model', '?')}"] = m
    plots.iou_bars(runs, get_dataset(dataset).class_names, out_png, f"{dataset}: per-class IoU on the evaluation split")


def plot_overlays(confusion_paths, predicted_labels: dict, images: dict, out_dir, dataset: str, n: int,
                  title: str) -> list[str]:
    """Overlays of the ``n`` best and ``n`` worst images by mean IoU, into ``out_dir``.

    ``images`` maps an image id to ``(image_path, label_path)``, and
    ``predicted_labels`` to the predicted label PNG.
    """
    from faceseg import plots

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"report.overlays must be a positive integer, got {n!r}")
    spec = get_dataset(dataset)
    ranked = rank_images_by_iou(confusion_paths, spec.class_names)
    chosen = [("best", i, r) for i, r in enumerate(ranked[:n], 1)]
    chosen += [("worst", i, r) for i, r in enumerate(ranked[::-1][:n], 1) if r not in ranked[:n]]
    written = []
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for kind, rank, (image_id, iou) in chosen:
            image_path, label_path = images[image_id]
            image = read_image(image_path)
            truth = read_labels(spec, label_path, image.shape)
            pred = np.asarray(Image.open(predicted_labels[image_id]))
            name = f"{kind}_{rank}_{image_id.replace('/', '_')}.png"
            plots.overlay_figure(image, truth, pred, spec.class_names, spec.colours, Path(tmp) / name,
                                 f"{title}: {kind} #{rank}, image {image_id}, mean IoU {iou:.3f}")
            written.append(name)
    log.info("overlays of %d images: %s", len(written), ", ".join(written))
    return written


def plot_feature_importance(model_path, out_png) -> dict[str, float]:
    from faceseg import plots

    model = load_model(model_path)
    totals = plots.importance_by_group(model)
    counts = Counter(model.feature_groups())
    title = " / ".join(str(model.info[k]) for k in ("dataset", "experiment") if k in model.info)
    plots.importance_bars(totals, counts, out_png, f"{title} / {model.kind}: feature importance by group")
    return totals
