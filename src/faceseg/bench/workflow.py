"""The workflow at LaPa's scale: planning time and memory, job overhead, time per image.

Run by ``python -m faceseg.bench --lapa-scale`` (and ``--job-overhead RUN_DIR``
for a finished run). Datasets are generated in LaPa's layout
(:mod:`faceseg.synthetic`: small synthetic faces), so the figures are about the
workflow's shape, never about accuracy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
#: LaPa's split sizes.
LAPA_SPLITS = {"train": 18176, "val": 2000, "test": 2000}
#: The rules that work per image, in shards: their jobs' start-up is the overhead measured here.
SHARD_RULES = ("detect_landmarks", "extract_features", "segment_images", "decide_labels")
_COMPUTE = re.compile(r"shard compute ([0-9.]+) s for (\d+) images")


def job_overhead(run_dir, rules=SHARD_RULES) -> dict:
    """Per rule: jobs, images, summed job wall time (benchmark files) and summed in-job compute (logs).

    A job's wall time is Snakemake's benchmark ``s``; its compute is the time
    spent on its images (the ``shard compute`` line its step logs), so the
    difference is start-up: the interpreter, imports, configuration, models.
    """
    run_dir = Path(run_dir)
    out = {}
    for rule in rules:
        jobs = images = 0
        wall = compute = 0.0
        for bench in sorted((run_dir / "benchmarks" / rule).rglob("*.tsv")):
            log = run_dir / "logs" / rule / bench.relative_to(run_dir / "benchmarks" / rule).with_suffix(".log")
            found = _COMPUTE.findall(log.read_text()) if log.is_file() else []
            if not found:
                continue
            rows = bench.read_text().splitlines()
            wall += float(rows[-1].split("\t")[0])
            compute += float(found[-1][0])
            images += int(found[-1][1])
            jobs += 1
        if jobs:
            out[rule] = {"jobs": jobs, "images": images, "job_wall_s": round(wall, 2),
                         "compute_s": round(compute, 2), "ratio": round(wall / compute, 3) if compute else None}
    wall = sum(r["job_wall_s"] for r in out.values())
    compute = sum(r["compute_s"] for r in out.values())
    out["all"] = {"jobs": sum(r["jobs"] for r in out.values()), "images": sum(r["images"] for r in out.values()),
                  "job_wall_s": round(wall, 2), "compute_s": round(compute, 2),
                  "ratio": round(wall / compute, 3) if compute else None}
    return out


def _snakemake(workdir: Path, *args) -> dict:
    """Run Snakemake on ``workdir``; its wall time, peak RSS (MB, the Snakemake process) and output."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           *args]
    start = time.perf_counter()
    with open(workdir / "snakemake.out", "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    output = (workdir / "snakemake.out").read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {workdir}:\n{output[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "output": output}


def _job_count(output: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", output, re.M)[1])


def _write_config(workdir: Path, overrides: dict) -> None:
    from faceseg.config import deep_update

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    (workdir / "config.yaml").write_text(yaml.safe_dump(deep_update(config, overrides)))


def dry_run(work: Path, counts=None, cores: int = 64) -> dict:
    """Plan the default configuration on a generated layout of ``counts`` images (LaPa's by default)."""
    from faceseg.synthetic import make_lapa

    counts = counts or LAPA_SPLITS
    root = work / f"lapa_{sum(counts.values())}"
    if not (root / "complete").is_file():
        start = time.perf_counter()
        make_lapa(root, counts)
        (root / "complete").write_text(f"{time.perf_counter() - start:.1f} s\n")
    workdir = work / f"dry_run_{sum(counts.values())}"
    workdir.mkdir(parents=True, exist_ok=True)
    _write_config(workdir, {"dataset": "lapa", "lapa_root": str(root)})
    result = _snakemake(workdir, "-n", "--cores", str(cores))
    return {"images": sum(counts.values()), "jobs": _job_count(result["output"]), "wall_s": result["wall_s"],
            "peak_rss_mb": result["peak_rss_mb"]}


#: LaPa's default shard sizes (config.yaml: about 71 training and 31 test images per shard), kept at any N.
TRAIN_PER_SHARD = LAPA_SPLITS["train"] / 256
TEST_PER_SHARD = LAPA_SPLITS["test"] / 64


def end_to_end(work: Path, n_train: int, cores: int, experiment: str = "landmarks") -> dict:
    """A real run on ``n_train`` generated training images and LaPa's share of test images (2,000 / 18,176).

    One experiment with a 20-tree forest and its configured decision
    parameters (no validation split, no image-only twin): the per-image work
    at LaPa's shard sizes, not the models' accuracy.
    """
    from faceseg.synthetic import make_lapa

    n_test = max(1, round(n_train * LAPA_SPLITS["test"] / LAPA_SPLITS["train"]))
    root = work / f"lapa_run_{n_train}"
    if not (root / "complete").is_file():
        make_lapa(root, {"train": n_train, "test": n_test}, seed=n_train)
        (root / "complete").write_text("done\n")
    workdir = work / f"run_{n_train}"
    workdir.mkdir(parents=True, exist_ok=True)
    _write_config(workdir, {
        "dataset": "lapa", "lapa_root": str(root), "run_experiments": [experiment],
        "shards": {"lapa": {"train": max(1, round(n_train / TRAIN_PER_SHARD)),
                            "test": max(1, round(n_test / TEST_PER_SHARD))}},
        "models": {"rf": {"n_estimators": 20}, "hgb": {"enabled": False}, "mlp": {"enabled": False}},
        "dataset_settings": {"lapa": {"also_run": []}}, "decision_search": {"split": {"lapa": None}},
    })
    result = _snakemake(workdir, "--cores", str(cores))
    overhead = job_overhead(workdir)
    return {"train_images": n_train, "test_images": n_test, "wall_s": result["wall_s"],
            "wall_s_per_train_image": round(result["wall_s"] / n_train, 4),
            "jobs": len(re.findall(r"^Finished jobid", result["output"], re.M)), "job_overhead": overhead}


def job_seconds(run_dir, rule: str, model: str | None = None) -> list[float]:
    """Wall seconds of every job of ``rule`` in a finished run (of ``model`` only: train_model's files are by model)."""
    files = (Path(run_dir) / "benchmarks" / rule).rglob("*.tsv" if model is None else f"{model}.tsv")
    return [float(b.read_text().splitlines()[-1].split("\t")[0]) for b in files]


def format_overhead(overhead: dict) -> str:
    lines = [f"| {'rule':18s} | {'jobs':>5s} | {'images':>6s} | {'job wall s':>10s} | {'compute s':>9s} | "
             f"{'ratio':>5s} |", f"| {'-' * 18} | {'-' * 4}: | {'-' * 5}: | {'-' * 9}: | {'-' * 8}: | {'-' * 4}: |"]
    for rule, r in overhead.items():
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {rule:18s} | {r['jobs']:5d} | {r['images']:6d} | {r['job_wall_s']:10.1f} | "
                     f"{r['compute_s']:9.1f} | {ratio:>5s} |")
    return "\n".join(lines)


def run_lapa_scale(work: Path, runs=(200, 2000), cores: int | None = None, dry_counts=None) -> dict:
    """(a) the dry run at LaPa's size, (b) real runs on ``runs`` generated training images."""
    cores = cores or os.cpu_count() or 1
    work.mkdir(parents=True, exist_ok=True)
    results = {"machine_cores": cores, "dry_run": dry_run(work, dry_counts), "runs": {}}
    print(f"  dry run: {json.dumps(results['dry_run'])}", flush=True)
    for n in runs:
        results["runs"][str(n)] = end_to_end(work, n, cores)
        print(f"  run on {n} training images: {results['runs'][str(n)]['wall_s']} s", flush=True)
    if len(runs) >= 2:
        a, b = (results["runs"][str(n)]["wall_s_per_train_image"] for n in (runs[0], runs[-1]))
        results["time_per_image_ratio"] = round(b / a, 3)
    return results


def format_lapa_scale(results: dict) -> str:
    d = results["dry_run"]
    lines = [f"LaPa-scale benchmark ({results['machine_cores']} cores, generated images)", "",
             f"(a) dry run of the default configuration on {d['images']} images: {d['jobs']} jobs, "
             f"{d['wall_s']:.1f} s, peak RSS {d['peak_rss_mb']:.0f} MB", ""]
    for n, r in results["runs"].items():
        lines += [f"(b) {n} training + {r['test_images']} test images: {r['wall_s']:.1f} s wall, "
                  f"{r['wall_s_per_train_image']:.4f} s per training image, {r['jobs']} jobs",
                  format_overhead(r["job_overhead"]), ""]
    if "time_per_image_ratio" in results:
        lines.append(f"time per image, largest / smallest run: {results['time_per_image_ratio']:.3f}")
    return "\n".join(lines)
