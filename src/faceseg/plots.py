"""Figures for the reports: confusion heatmaps, per-class IoU bars, overlays, feature importance.

Every figure that shows classes carries a legend in the dataset's colours
(FASSEG's nominal label colours, LaPa's official palette).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from faceseg.io import atomic_output  # noqa: E402
from faceseg.segment import NOT_SEGMENTED  # noqa: E402


def _save(fig, out_png):
    with atomic_output(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _rgb(colour):
    return tuple(c / 255 for c in colour)


def class_legend(ax, class_names, colours, **kwargs):
    handles = [Patch(facecolor=_rgb(c), edgecolor="black", linewidth=0.5, label=n.replace("_", " "))
               for n, c in zip(class_names, colours)]
    return ax.legend(handles=handles, **kwargs)


def confusion_heatmap(confusion, class_names, out_png, title: str, what: str = "class",
                      counted: str = "pixels") -> None:
    """Row-normalised confusion matrix: each row (true class) sums to 1, the diagonal is the recall.

    ``what`` names the rows and columns (a class, a pose) and ``counted`` what is counted (pixels, photos).
    """
    cm = np.asarray(confusion, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    size = 1.0 + 0.55 * n
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = [c.replace("_", " ") for c in class_names]
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel(f"predicted {what}")
    ax.set_ylabel(f"true {what}")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=f"share of the true {what}'s {counted}")
    ax.set_title(title)
    _save(fig, out_png)


def iou_bars(runs: dict[str, dict], class_names, out_png, title: str) -> None:
    """Grouped bars of per-class IoU, one bar per run (``label -> metrics.json`` contents)."""
    labels = list(runs)
    n_classes, n_runs = len(class_names), len(labels)
    width = 0.8 / max(n_runs, 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + n_classes * (0.35 + 0.18 * n_runs)), 4.2))
    x = np.arange(n_classes + 1)  # the last group is the mean IoU
    cmap = plt.get_cmap("tab10")
    for k, label in enumerate(labels):
        per_class = runs[label]["per_class"]
        values = [per_class[c]["iou"] if per_class[c]["iou"] is not None else 0.0 for c in class_names]
        values.append(runs[label]["mean_iou"])
        ax.bar(x + (k - (n_runs - 1) / 2) * width, values, width, label=label, color=cmap(k % 10))
    ax.set_xticks(x, [c.replace("_", " ") for c in class_names] + ["mean IoU"], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="experiment / model")
    ax.set_title(title)
    _save(fig, out_png)


def colourise_labels(labels, colours):
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colours)] = colours
    palette[NOT_SEGMENTED] = (128, 128, 128)
    return palette[labels]


def overlay_figure(image, truth, prediction, class_names, colours, out_png, title: str) -> None:
    """image | ground truth | prediction | errors (wrong pixels in magenta over the grey image)."""
    grey = np.repeat(np.asarray(image, np.float32).mean(axis=2, keepdims=True), 3, axis=2) / 255
    errors = 0.35 + 0.5 * grey
    wrong = (prediction != truth) & (prediction != NOT_SEGMENTED)
    errors[wrong] = (1.0, 0.0, 1.0)
    panels = [("image", image), ("ground truth", colourise_labels(truth, colours)),
              ("prediction", colourise_labels(prediction, colours)),
              (f"errors ({wrong.mean():.1%} of pixels)", errors)]
    h, w = truth.shape
    fig, axes = plt.subplots(1, 4, figsize=(4 * 3.0 * w / max(h, w) + 1.8, 3.0 * h / max(h, w) + 0.7))
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(picture)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    class_legend(axes[-1], class_names, colours, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.suptitle(title, fontsize=11)
    _save(fig, out_png)


def importance_by_group(model) -> dict[str, float]:
    """A tree model's impurity-based feature importance, summed over each feature group."""
    importances = getattr(model.estimator, "feature_importances_", None)
    if importances is None:
        raise ValueError(f"{model.kind} model has no feature importances (only the random forest has)")
    groups = model.feature_groups()
    if len(groups) != len(importances):
        raise ValueError("the model's feature configuration does not give its number of features")
    totals: dict[str, float] = {}
    for group, value in zip(groups, importances):
        totals[group] = totals.get(group, 0.0) + float(value)
    return totals


def importance_bars(totals: dict[str, float], counts: dict[str, int], out_png, title: str) -> None:
    names = sorted(totals, key=totals.get)
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(names)))
    ax.barh(range(len(names)), [totals[n] for n in names], color="tab:green")
    ax.set_yticks(range(len(names)), [f"{n.replace('_', ' ')} ({counts[n]} ch.)" for n in names])
    for i, n in enumerate(names):
        ax.text(totals[n] + 0.005, i, f"{totals[n]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(totals.values()) * 1.15)
    ax.set_xlabel("impurity importance, summed over the group's channels")
    ax.set_title(title)
    _save(fig, out_png)


def plot_paired_differences(paired_csv, out_png, title: str) -> None:
    """Each paired comparison's difference and interval (``paired.csv`` of the summary), one line each."""
    import csv

    with open(paired_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.32 * max(len(rows), 1)))
    if not rows:
        ax.text(0.5, 0.5, "no two rows share enough scored images", ha="center", va="center")
        ax.set_axis_off()
        _save(fig, out_png)
        return
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        diff, low, high = float(r["difference"]), float(r["low"]), float(r["high"])
        shown = r["verdict"] != "no difference shown"
        colour = "tab:blue" if r["kind"] == "against the reference" else "tab:orange"
        ax.plot([low, high], [yi, yi], color=colour, linewidth=2)
        ax.plot([diff], [yi], "o", color=colour, markerfacecolor=colour if shown else "white", markersize=6)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['a']}  vs  {r['b']}" for r in rows], fontsize=8)
    from faceseg.comparison import METRIC_NAMES

    metric = METRIC_NAMES.get(rows[0]["metric"], rows[0]["metric"])
    ax.set_xlabel(f"{metric}: a - b, paired 95% interval (filled: a difference shown)")
    ax.set_title(f"{title}: paired differences (blue: against the reference; orange: models of one experiment)",
                 fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, out_png)
