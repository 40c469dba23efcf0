"""``faceseg compare A B``: two runs' results side by side, paired on the images both scored.

Rows are matched by dataset, experiment and model. For each: the paired
difference of the dataset's headline score (:func:`faceseg.comparison.compare_runs`)
and what differs between the two runs: the code (faceseg's fingerprint, the
libraries), the settings (the model's fit parameters, features and sampling,
the decision parameters), the data (pixel digests, images only one run
scored) and the skipped images. It is how a change is checked before it is
believed.
"""

from __future__ import annotations

import json
from pathlib import Path

from faceseg.comparison import METRIC_NAMES, compare_runs, per_image_file, read_per_image_csv
from faceseg.datasets import get_dataset
from faceseg.io import InputError
from faceseg.paths import MODEL_SUFFIX


def report_folders(path) -> dict[str, Path]:
    """``{dataset tag: results/reports/<tag>}`` of a run folder, a results folder, a dataset's reports or a summary."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    for reports in (path / "results" / "reports", path / "reports", path):
        found = {d.name: d for d in sorted(reports.iterdir()) if d.is_dir() and list(d.glob("*/*/metrics.json"))} \
            if reports.is_dir() else {}
        if found:
            return found
    if list(path.glob("*/*/metrics.json")):
        return {path.name: path}
    raise InputError(f"{path}: no results found (give a run folder, its results/ or results/reports/<dataset>/, "
                     "or a summary.md)")


def _flat(value, prefix="") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _differences(a: dict, b: dict) -> dict[str, tuple]:
    fa, fb = _flat(a), _flat(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}


def _settings(report_dir: Path, metrics: dict) -> dict:
    """A row's settings: the decision parameters of its metrics, and the model's fit settings if it is beside."""
    from faceseg.models.classifier import read_model_metadata

    settings = {"decision": {k: v for k, v in (metrics.get("decision") or {}).items() if k != "chosen_on"}}
    # results/reports/<tag>/<experiment>/<model> -> results/models/<tag>/<experiment>/<model>.faceseg
    model_file = report_dir.parents[2] / "models" / report_dir.parent.parent.name / report_dir.parent.name / \
        f"{report_dir.name}{MODEL_SUFFIX}"
    if model_file.is_file():
        model = read_model_metadata(model_file)
        fit = {k: v for k, v in model.params.items() if k not in settings["decision"]}
        settings.update({"fit": fit, "features": model.feature_config, "sampling": model.info.get("sampling")})
    return settings


def _code(metrics: dict) -> dict:
    p = metrics.get("provenance") or {}
    return {"faceseg": p.get("faceseg"), "package": p.get("package"), "libraries": p.get("libraries", {})}


def compare(path_a, path_b) -> list[dict]:
    """One entry per row found in both runs (and one per row found in only one)."""
    a_dirs, b_dirs = report_folders(path_a), report_folders(path_b)
    rows = []
    for tag in sorted(set(a_dirs) | set(b_dirs)):
        if tag not in a_dirs or tag not in b_dirs:
            rows.append({"dataset": tag, "only_in": "A" if tag in a_dirs else "B"})
            continue
        metric = get_dataset(tag.split("-")[0]).reported_metric
        found = {}
        for side, root in (("A", a_dirs[tag]), ("B", b_dirs[tag])):
            for m in sorted(root.glob("*/*/metrics.json")):
                found.setdefault((m.parent.parent.name, m.parent.name), {})[side] = m
        for (experiment, model), sides in sorted(found.items()):
            row = {"dataset": tag, "experiment": experiment, "model": model, "metric": metric}
            if len(sides) < 2:
                rows.append({**row, "only_in": next(iter(sides))})
                continue
            ma, mb = (json.loads(sides[s].read_text()) for s in ("A", "B"))
            row["scores"] = {s: m.get(metric) for s, m in (("A", ma), ("B", mb))}
            if per_image_file(sides["A"]).is_file() and per_image_file(sides["B"]).is_file():
                try:
                    row["paired"] = compare_runs(read_per_image_csv(per_image_file(sides["A"])),
                                                 read_per_image_csv(per_image_file(sides["B"])), metric)
                except ValueError as exc:
                    row["paired_error"] = str(exc)
            else:
                row["paired_error"] = "no per_image.csv in one of the runs (made before faceseg wrote them)"
            row["code"] = _differences(_code(ma), _code(mb))
            row["settings"] = _differences(_settings(sides["A"].parent, ma), _settings(sides["B"].parent, mb))
            row["data"] = _differences(
                {k: v for k, v in (ma.get("data") or {}).items() if k != "unreadable"},
                {k: v for k, v in (mb.get("data") or {}).items() if k != "unreadable"})
            skipped = [{s["image_id"] for s in m.get("skipped") or []} for m in (ma, mb)]
            row["skipped"] = {"only_A": sorted(skipped[0] - skipped[1]), "only_B": sorted(skipped[1] - skipped[0])}
            rows.append(row)
    return rows


def _value(v) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def format_report(rows: list[dict], path_a, path_b) -> str:
    lines = [f"A: {path_a}", f"B: {path_b}", ""]
    for row in rows:
        name = " / ".join(str(row[k]) for k in ("dataset", "experiment", "model") if k in row)
        if "only_in" in row:
            lines.append(f"{name}: only in {row['only_in']}")
            continue
        p = row.get("paired")
        metric = METRIC_NAMES.get(row["metric"], row["metric"])
        lines.append(f"{name}: {metric} A {row['scores']['A']:.4f}, B {row['scores']['B']:.4f}")
        if p:
            lines.append(f"  A - B {p['difference']:+.4f} ({p['level']:.0%} paired interval {p['low']:+.4f} to "
                         f"{p['high']:+.4f}, Wilcoxon p {p['p_value']:.2g}, on {p['n_images']} shared images): "
                         + {"better": "A better", "worse": "B better"}.get(p["verdict"], p["verdict"]))
            for side in ("a", "b"):
                if p[f"only_{side}"]:
                    lines.append(f"  images only {side.upper()} scored ({len(p[f'only_{side}'])}): "
                                 f"{', '.join(p[f'only_{side}'][:10])}")
        else:
            lines.append(f"  no paired comparison: {row['paired_error']}")
        for what in ("code", "settings", "data"):
            diffs = row[what]
            if not diffs:
                lines.append(f"  {what}: the same")
            for key, (va, vb) in diffs.items():
                lines.append(f"  {what} differs: {key}: A {_value(va)}, B {_value(vb)}")
        for side in ("A", "B"):
            if row["skipped"][f"only_{side}"]:
                lines.append(f"  skipped only in {side}: {', '.join(row['skipped'][f'only_{side}'])}")
    return "\n".join(lines)
