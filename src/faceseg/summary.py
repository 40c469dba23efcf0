"""The summary tables: every experiment and model of a run beside the published numbers.

``summary.md`` / ``summary.csv`` have one row per experiment x model (and a
``per-pixel`` row where the model smooths its probabilities, so the effect of
the spatial post-processing is visible), then the published rows on the same
dataset with their citation and how their protocol differs. ``per_pose.md`` /
``per_pose.csv`` (FASSEG V3) give per-class accuracy (recall) and IoU by pose.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceseg.datasets import LAPA, fasseg_pose
from faceseg.io import atomic_output
from faceseg.metrics import ConfusionRecord, scores
from faceseg.provenance import describe


@dataclass(frozen=True)
class PublishedResult:
    """A published result, as reported (fractions; None where the paper gives none)."""

    method: str
    citation: str
    protocol: str
    pixel_accuracy: float | None = None
    mean_iou: float | None = None
    mean_f1: float | None = None
    f1: dict = field(default_factory=dict)
    iou: dict = field(default_factory=dict)


KHAN_2015 = "K. Khan, M. Mauro, R. Leonardi, \"Multi-class semantic segmentation of faces\", ICIP 2015"
KHAN_2017 = ("K. Khan, M. Mauro, P. Migliorati, R. Leonardi, \"Head pose estimation through multiclass face "
             "segmentation\", ICME 2017")
REES_2019 = "Rees, 2019: a reimplementation of Khan et al. (ICIP 2015)"

#: LaPa's face classes: the label map's order, which is the order of the LaPa papers' tables.
LAPA_FACE_CLASSES = LAPA.class_names[1:]
#: How every published LaPa row was measured (and ours are, with the protocol each row states).
LAPA_PROTOCOL = ("LaPa test set (2,000 images), image only; F1 per class from one confusion matrix summed over the "
                 "test images at the labels' resolution; mean over the 10 classes other than background")


def _lapa_row(method: str, citation: str, f1_percent, mean_percent, background=None) -> PublishedResult:
    """A published LaPa row from its table (percent, in :data:`LAPA_FACE_CLASSES` order) as fractions."""
    f1 = {name: round(v / 100, 6) for name, v in zip(LAPA_FACE_CLASSES, f1_percent, strict=True)}
    if background is not None:
        f1["background"] = round(background / 100, 6)
    return PublishedResult(method, citation, LAPA_PROTOCOL, mean_f1=round(mean_percent / 100, 6), f1=f1)


#: Published results by dataset tag (see faceseg.config.dataset_tag).
PUBLISHED: dict[str, list[PublishedResult]] = {
    "fasseg": [
        PublishedResult(
            "HSV + patch histograms + HOG + location, random forest", KHAN_2015,
            "same split (FASSEG Frontal01 = V1, 20 train / 50 test); accuracy reported as about 93%",
            pixel_accuracy=0.93,
        ),
        PublishedResult(
            "grey + location, random forest", REES_2019,
            "training and test images mix V2 with frontal V3 images, padded to 600x600 (the padding is easy "
            "background, which inflates pixel accuracy)",
            pixel_accuracy=0.9345,
        ),
        PublishedResult(
            "RGB + location + HOG, random forest", REES_2019,
            "as the row above",
            pixel_accuracy=0.9451,
            f1={"background": 0.98, "skin": 0.94, "hair": 0.93, "eyes": 0.56, "nose": 0.71, "mouth": 0.66},
        ),
    ],
    "lapa": [
        _lapa_row("BASS", "Y. Liu et al., \"A New Dataset and Boundary-Attention Semantic Segmentation for Face "
                  "Parsing\", AAAI 2020", [97.24, 87.67, 87.55, 88.06, 87.91, 95.47, 84.36, 87.64, 85.70, 96.31],
                  89.79, background=99.17),
        _lapa_row("EAGRNet", "G. Te et al., \"Edge-aware Graph Representation Learning and Reasoning for Face "
                  "Parsing\", ECCV 2020", [97.3, 86.5, 87.0, 89.5, 90.0, 97.1, 88.1, 90.0, 89.0, 96.2], 91.07),
        _lapa_row("AGRNet", "G. Te et al., \"AGRNet: Adaptive Graph Representation Learning and Reasoning for Face "
                  "Parsing\", IEEE TIP 2021", [97.7, 89.9, 90.0, 91.6, 91.1, 97.3, 88.5, 90.7, 90.1, 96.5], 92.34),
        _lapa_row("DML-CSR", "Q. Zheng et al., \"Decoupled Multi-task Learning with Cyclical Self-Regulation for "
                  "Face Parsing\", CVPR 2022", [97.6, 90.4, 90.4, 91.8, 91.5, 97.3, 88.0, 90.5, 89.9, 96.4], 92.38),
        _lapa_row("FaRL", "Y. Zheng et al., \"General Facial Representation Learning in a Visual-Linguistic "
                  "Manner\", CVPR 2022", [98.00, 92.70, 92.65, 93.97, 93.91, 97.92, 90.15, 91.74, 91.21, 96.52],
                  93.88, background=99.25),
        _lapa_row("SegFace", "K. Narayan et al., \"SegFace: Face Segmentation of Long-Tail Classes\", AAAI 2025",
                  [97.7, 91.6, 91.4, 92.6, 92.7, 97.5, 88.7, 91.2, 90.5, 96.3], 93.03),
    ],
}

#: Published per-class accuracy (recall) by pose on FASSEG V3 (Multipose01), as fractions.
PUBLISHED_BY_POSE = {
    "fasseg-V3": {
        "citation": KHAN_2017,
        "method": "pixel-based classifier",
        "protocol": "the V3 test part (persons 8-15); here: persons held out of the training part",
        "recall": {
            "0": {"background": 0.8023, "skin": 0.9322, "hair": 0.9431, "eyes": 0.5874, "nose": 0.5875,
                  "mouth": 0.8325},
        },
    },
}


#: Scores with a bootstrap interval in summary.csv (columns ``<key>_low`` and ``<key>_high``).
INTERVAL_KEYS = ("pixel_accuracy", "mean_iou")


def _fmt(value, digits=4):
    return "" if value is None else f"{value:.{digits}f}"


def summary_rows(metrics_list: list[dict], class_names) -> list[dict]:
    """One row per run (and per-pixel variant): the columns of summary.csv."""
    rows = []
    for m in metrics_list:
        variants = [("", m)]
        if m.get("per_pixel"):
            variants.append(("per-pixel (no spatial smoothing)", m["per_pixel"]))
        for variant, s in variants:
            provenance = m.get("provenance") or {}
            row = {"experiment": m["experiment"], "model": m["model"], "variant": variant or "as configured",
                   "faceseg": provenance.get("faceseg"), "code": provenance.get("package"),
                   "source": "this run", "pixel_accuracy": s["pixel_accuracy"], "mean_iou": s["mean_iou"],
                   "mean_f1": s["mean_f1"], "mean_f1_foreground": s.get("mean_f1_foreground"),
                   "n_images": m["n_images"],
                   "n_skipped": len(m.get("skipped") or [])}
            for name in class_names:
                row[f"iou_{name}"] = s["per_class"][name]["iou"]
                row[f"f1_{name}"] = s["per_class"][name]["f1"]
            # Bootstrap intervals over the test images: of the run as configured only.
            intervals = m.get("intervals") if not variant else None
            for key in INTERVAL_KEYS:
                low, high = intervals[key] if intervals else (None, None)
                row[f"{key}_low"], row[f"{key}_high"] = low, high
            rows.append(row)
    return rows


def published_rows(dataset_tag: str, class_names) -> list[dict]:
    rows = []
    for p in PUBLISHED.get(dataset_tag, []):
        row = {"experiment": p.method, "model": "", "variant": "published", "source": p.citation,
               "protocol": p.protocol,
               "pixel_accuracy": p.pixel_accuracy, "mean_iou": p.mean_iou, "n_images": None,
               # LaPa's papers report the mean F1 over the face classes only.
               "mean_f1": None if dataset_tag == "lapa" else p.mean_f1,
               "mean_f1_foreground": p.mean_f1 if dataset_tag == "lapa" else None}
        for name in class_names:
            row[f"iou_{name}"] = p.iou.get(name)
            row[f"f1_{name}"] = p.f1.get(name)
        rows.append(row)
    return rows


def code_versions(metrics_list: list[dict]) -> dict[str, list[str]]:
    """``{description of the code: the runs it made}`` (:func:`faceseg.provenance.describe`), in run order."""
    versions: dict[str, list[str]] = {}
    for m in metrics_list:
        versions.setdefault(describe(m.get("provenance")), []).append(f"{m['experiment']} / {m['model']}")
    return versions


def _decision_lines(metrics_list: list[dict]) -> list[str]:
    """Each run's decision parameters and whether they were chosen on a validation split or configured."""
    if not any(m.get("decision") for m in metrics_list):
        return []
    lines = ["", "## Decision parameters", "", "| experiment | model | prior correction | smoothing (px) | class bias "
             "| chosen on |", "| --- | --- | ---: | ---: | --- | --- |"]
    for m in metrics_list:
        d = m.get("decision") or {}
        chosen = d.get("chosen_on")
        where = (f"{chosen['split']} ({chosen['n_images']} images, {chosen['metric']} {_fmt(chosen['score'])})"
                 if chosen else "configured")
        lines.append(f"| {m['experiment']} | {m['model']} | {d.get('prior_correction', '')} | "
                     f"{d.get('smooth_sigma', '')} | {json.dumps(d.get('class_bias') or {})} | {where} |")
    return lines


def _code_lines(metrics_list: list[dict]) -> list[str]:
    versions = code_versions(metrics_list)
    if len(versions) == 1:
        return ["", "## Code", "", f"Every row was made by {next(iter(versions))}."]
    lines = ["", "## Code", "", f"**The rows were made by {len(versions)} versions of the code** (faceseg, its "
             "code or the computing libraries differ): only the stages a change reached were rerun. Rerun with "
             "`--forcerun` to make every row with today's code.", ""]
    return lines + [f"- {code}: {', '.join(runs)}" for code, runs in versions.items()]


def _data_lines(metrics_list: list[dict]) -> list[str]:
    """The evaluation data each row was scored on, by pixel digest (:mod:`faceseg.data_digest`)."""
    from faceseg.data_digest import describe as describe_data

    data: dict[str, list[str]] = {}
    for m in metrics_list:
        data.setdefault(describe_data(m.get("data")), []).append(f"{m['experiment']} / {m['model']}")
    lines = ["", "## Data", ""]
    if len(data) == 1:
        lines.append(f"Every row was scored on the same files: {next(iter(data))}.")
    else:
        lines += [f"- {d}: {', '.join(runs)}" for d, runs in data.items()]
    changed = sorted({f for m in metrics_list for f in (m.get("data") or {}).get("changed_files_accepted", [])})
    if changed:
        lines += ["", f"**{len(changed)} file(s) differ from the published data** (accepted by "
                      f"`accept_changed_data`): {', '.join(changed)}"]
    return lines


def _model_label(row: dict) -> str:
    return row["model"] if row["variant"] == "as configured" else f"{row['model']}, per-pixel"


def _lapa_table(ours: list[dict], dataset_tag: str) -> list[str]:
    """The LaPa papers' table: F1 per face class and its mean (percent), published rows and ours, with protocols."""
    head = ["method", "protocol"] + [c.replace("_", " ") for c in LAPA_FACE_CLASSES] + ["mean (10 classes)"]
    lines = ["", "## LaPa table: F1 (%) per face class", "",
             f"As the LaPa papers report it: {LAPA_PROTOCOL}. Only rows whose protocol says *image only* are "
             "comparable with the published ones; *annotated landmarks* rows see the dataset's 106 annotated points "
             "of each test image, which the published methods do not get.", "",
             "| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]

    def pct(v):
        return "" if v is None else f"{100 * v:.2f}"

    for r in ours:
        cells = [f"{r['experiment']} / {_model_label(r)} (this run)", r.get("protocol") or "not recorded"]
        cells += [pct(r[f"f1_{c}"]) for c in LAPA_FACE_CLASSES] + [pct(r["mean_f1_foreground"])]
        lines.append("| " + " | ".join(cells) + " |")
    for p in PUBLISHED.get(dataset_tag, []):
        cells = [f"{p.method} ({p.citation})", "image only (published)"]
        cells += [pct(p.f1.get(c)) for c in LAPA_FACE_CLASSES] + [pct(p.mean_f1)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _comparisons(metrics_paths, metrics_list, reference, metric) -> list[dict]:
    from faceseg.comparison import per_image_file, read_per_image_csv, table_comparisons

    runs = {f"{m['experiment']} / {m['model']}": read_per_image_csv(per_image_file(p))
            for p, m in zip(metrics_paths, metrics_list) if per_image_file(p).is_file()}
    return table_comparisons(runs, reference, metric)


def _paired_lines(comparisons: list[dict], metric: str, reference: str | None) -> list[str]:
    """The summary's section of paired differences (:func:`faceseg.comparison.table_comparisons`)."""
    from faceseg.comparison import METRIC_NAMES

    name = METRIC_NAMES.get(metric, metric)
    lines = ["", "## Paired comparisons", ""]
    if not comparisons:
        return lines + ["No two rows share enough scored images to compare."]
    c0 = comparisons[0]
    lines += [f"Each row's {name} minus another's on the same {c0['n_images']} images, with a paired "
              f"{c0['level']:.0%} interval ({c0['method']}). The separate intervals of the table above overlap "
              "far more than two models scored on the same images differ: read differences here. *better* / "
              f"*worse*: the interval excludes 0 and p < {1 - c0['level']:.2f}; otherwise *no difference shown*."
              + ("" if any(c["kind"] == "against the reference" for c in comparisons)
                 else f" The reference row {reference} is not in this run."), ""]
    lines += [f"| a | b | {name}, a - b | interval | p | images where a / b scores higher | a is |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for kind in ("against the reference", "models of one experiment"):
        for c in (c for c in comparisons if c["kind"] == kind):
            lines.append(f"| {c['a']} | {c['b']} | {c['difference']:+.4f} | {c['low']:+.4f} to {c['high']:+.4f} | "
                         f"{c['p_value']:.2g} | {c['images_a_better']} / {c['images_b_better']} | {c['verdict']} |")
    return lines


def write_paired_csv(comparisons: list[dict], path) -> None:
    fields = ["kind", "a", "b", "metric", "n_images", "difference", "low", "high", "p_value", "verdict",
              "images_a_better", "images_b_better"]
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(comparisons)


def write_summary(metrics_paths, out_md, out_csv, dataset_tag: str, descriptions: dict | None = None,
                  protocols: dict | None = None, reference: str | None = None, metric: str = "mean_iou",
                  out_paired=None) -> list[dict]:
    """Write ``summary.md`` and ``summary.csv`` from the runs' ``metrics.json`` files.

    ``protocols``: per experiment, what its models see at test time (for
    LaPa: image only, or the annotated landmarks); each of our rows says it.
    ``reference`` (``"experiment / model"``) and ``metric``: the paired
    comparisons of the rows, read from the ``per_image.csv`` beside each
    ``metrics.json`` where there is one; ``out_paired``: them as CSV.
    """
    metrics_list = [json.loads(Path(p).read_text()) for p in metrics_paths]
    if not metrics_list:
        raise ValueError("write_summary needs at least one metrics.json")
    class_names = metrics_list[0]["class_names"]
    ours = summary_rows(metrics_list, class_names)
    for row in ours:
        row["protocol"] = (protocols or {}).get(row["experiment"])
    theirs = published_rows(dataset_tag, class_names)
    columns = (["experiment", "model", "variant", "source", "protocol", "n_images", "n_skipped", "pixel_accuracy",
                "mean_iou", "mean_f1", "mean_f1_foreground"]
               + [f"iou_{c}" for c in class_names] + [f"f1_{c}" for c in class_names]
               + [f"{k}_{end}" for k in INTERVAL_KEYS for end in ("low", "high")] + ["faceseg", "code"])
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for row in ours + theirs:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})

    n_images = sorted({m["n_images"] for m in metrics_list})
    levels = sorted({m["intervals"]["level"] for m in metrics_list if m.get("intervals")})
    level = f"{levels[0]:.0%}" if len(levels) == 1 else "bootstrap"
    lines = [f"# {dataset_tag}: summary", "",
             f"Evaluation split: {', '.join(map(str, n_images))} images scored. IoU and F1 per class; "
             "the per-pixel rows are the same models without the spatial smoothing of their probabilities. "
             f"The {level} intervals come from resampling the scored images (percentile bootstrap): "
             "how far a figure could move on another test set drawn like this one.", ""]
    n_versions = len(code_versions(metrics_list))
    if n_versions > 1:
        lines += [f"**Made by {n_versions} versions of the code**: see Code below.", ""]
    head = (["experiment", "model", "pixel acc.", "mean IoU", "mean F1"] + [f"IoU {c}" for c in class_names]
            + [f"{level} interval: pixel acc.", "mean IoU"])
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * 2 + " ---: |" * (len(head) - 2)]

    def interval(r, key):
        low, high = r[f"{key}_low"], r[f"{key}_high"]
        return "" if low is None else f"{low:.3f}-{high:.3f}"

    for r in ours:
        cells = [r["experiment"], _model_label(r), _fmt(r["pixel_accuracy"]), _fmt(r["mean_iou"]), _fmt(r["mean_f1"])]
        cells += [_fmt(r[f"iou_{c}"], 3) for c in class_names] + [interval(r, k) for k in INTERVAL_KEYS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "F1 per class:", "",
              "| experiment | model | " + " | ".join(f"F1 {c}" for c in class_names) + " |",
              "| --- | --- |" + " ---: |" * len(class_names)]
    for r in ours:
        f1 = " | ".join(_fmt(r[f"f1_{c}"], 3) for c in class_names)
        lines.append(f"| {r['experiment']} | {_model_label(r)} | {f1} |")
    skipped = {(s["image_id"], s["reason"]) for m in metrics_list for s in m.get("skipped") or []}
    if skipped:
        # Unreadable files and faces not found: not scored by any run that lists them.
        lines += ["", f"## Skipped evaluation images ({len({i for i, _ in skipped})})", ""]
        for image_id, reason in sorted(skipped):
            runs = [f"{m['experiment']} / {m['model']}" for m in metrics_list
                    if any(s["image_id"] == image_id and s["reason"] == reason for s in m.get("skipped") or [])]
            lines.append(f"- {image_id} ({', '.join(runs)}): {reason}")
    if dataset_tag == "lapa":
        lines += _lapa_table(ours, dataset_tag)
    lines += _decision_lines(metrics_list)
    comparisons = _comparisons(metrics_paths, metrics_list, reference, metric)
    lines += _paired_lines(comparisons, metric, reference)
    if out_paired is not None:
        write_paired_csv(comparisons, out_paired)
    lines += _code_lines(metrics_list) + _data_lines(metrics_list)
    if descriptions:
        lines += ["", "## Experiments", ""]
        lines += [f"- **{name}**: {text}" for name, text in descriptions.items() if text]
    lines += ["", "## Published results on this dataset", ""]
    if dataset_tag == "lapa":
        lines.append("In the LaPa table above, with their citations.")
    elif not theirs:
        lines.append("None on file for this dataset.")
    else:
        lines += ["| method | pixel acc. | mean IoU | " + " | ".join(f"F1 {c}" for c in class_names)
                  + " | source | protocol |",
                  "| --- | ---: | ---: |" + " ---: |" * len(class_names) + " --- | --- |"]
        for p in PUBLISHED[dataset_tag]:
            lines.append(f"| {p.method} | {_fmt(p.pixel_accuracy)} | {_fmt(p.mean_iou)} | "
                         + " | ".join(_fmt(p.f1.get(c), 2) for c in class_names)
                         + f" | {p.citation} | {p.protocol} |")
    with atomic_output(out_md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return ours + theirs


def _pose_key(pose: str):
    try:
        return (0, float(pose))
    except ValueError:
        return (1, pose)


def pose_scores(confusions, class_names) -> dict[str, dict]:
    """``{pose: scores}`` from per-image confusion records of FASSEG V3, or their files (unscored images left out)."""
    n = len(class_names)
    totals: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for item in confusions:
        record = item if isinstance(item, ConfusionRecord) else ConfusionRecord.read(item)
        if record.confusion is None:
            continue
        pose = fasseg_pose(record.image_id) or "all"
        totals.setdefault(pose, np.zeros((n, n), np.int64))
        totals[pose] += record.confusion
        counts[pose] = counts.get(pose, 0) + 1
    out = {}
    for pose in sorted(totals, key=_pose_key):
        out[pose] = {**scores(totals[pose], class_names), "n_images": counts[pose]}
    return out


def write_pose_tables(runs: dict, out_md, out_csv, dataset_tag: str, class_names) -> None:
    """Per-pose tables of every run. ``runs`` maps ``"experiment / model"`` to its confusion records or files."""
    anchor = PUBLISHED_BY_POSE.get(dataset_tag)
    columns = (["experiment_model", "pose", "n_images", "pixel_accuracy", "mean_iou"]
               + [f"recall_{c}" for c in class_names] + [f"iou_{c}" for c in class_names])
    rows = []
    lines = [f"# {dataset_tag}: scores by pose", "",
             "Per-class accuracy (recall: the fraction of the class's pixels labelled as that class) and IoU, "
             "per pose (degrees of pan).", ""]
    for name, paths in runs.items():
        by_pose = pose_scores(paths, class_names)
        lines += [f"## {name}", "", "Per-class accuracy (recall):", "",
                  "| pose | images | pixel acc. | " + " | ".join(class_names) + " |",
                  "| --- | ---: | ---: |" + " ---: |" * len(class_names)]
        for pose, s in by_pose.items():
            lines.append(f"| {pose} | {s['n_images']} | {_fmt(s['pixel_accuracy'])} | "
                         + " | ".join(_fmt(s["per_class"][c]["recall"], 3) for c in class_names) + " |")
            row = {"experiment_model": name, "pose": pose, "n_images": s["n_images"],
                   "pixel_accuracy": s["pixel_accuracy"], "mean_iou": s["mean_iou"]}
            for c in class_names:
                row[f"recall_{c}"] = s["per_class"][c]["recall"]
                row[f"iou_{c}"] = s["per_class"][c]["iou"]
            rows.append(row)
        lines += ["", "IoU:", "", "| pose | mean IoU | " + " | ".join(class_names) + " |",
                  "| --- | ---: |" + " ---: |" * len(class_names)]
        for pose, s in by_pose.items():
            lines.append(f"| {pose} | {_fmt(s['mean_iou'])} | "
                         + " | ".join(_fmt(s["per_class"][c]["iou"], 3) for c in class_names) + " |")
        lines.append("")
    if anchor:
        lines += ["## Published", "", f"{anchor['method']}, {anchor['citation']}; protocol: {anchor['protocol']}.",
                  "", "| pose | " + " | ".join(f"accuracy {c}" for c in class_names) + " |",
                  "| --- |" + " ---: |" * len(class_names)]
        for pose, recall in anchor["recall"].items():
            lines.append(f"| {pose} | " + " | ".join(_fmt(recall.get(c), 4) for c in class_names) + " |")
            rows.append({"experiment_model": f"published: {anchor['citation']}", "pose": pose,
                         **{f"recall_{c}": recall.get(c) for c in class_names}})
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    with atomic_output(out_md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
