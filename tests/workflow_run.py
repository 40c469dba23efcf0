"""Helpers for tests that run the workflow with Snakemake: a tiny configuration and the command line."""

import re
import subprocess
import sys

import yaml
from conftest import REPO

from faceseg.config import deep_update

MODELS = ("rf", "hgb", "mlp")

TINY = {
    "max_images": {"train": 3, "val": 2, "test": 2},
    "experiments": {
        "default": {
            "features": {
                "colour": {"spaces": ["rgb", "lab"], "mean_sizes": [9]},
                "location": {},
                "hog": {"cell_sizes": [8, 16], "orientations": 6},
                "patch_histogram": {"patch_sizes": [16], "bins": 6},
                "landmarks": {},
                "landmark_parts": {},
                "face_colour": {"mean_sizes": [9]},
                # 2 of the 3 training images ("1" and "11"): both the left-out and the plain path.
                "label_atlas": {"atlases": 2},
            },
            "sampling": {"samples_per_image": 1500, "seed": 0},
        },
        # A second, cheap experiment that trains only a small forest: per-experiment model settings.
        "grey-loc": {
            "features": {"colour": {"spaces": ["grey"]}, "location": {}},
            "sampling": {"samples_per_image": 1500, "seed": 0},
            "models": {"rf": {"n_estimators": 5}, "hgb": {"enabled": False}, "mlp": {"enabled": False}},
        },
    },
    "run_experiments": ["default", "grey-loc"],
    # LaPa runs only the experiments above (the image-only twin has its own test).
    "dataset_settings": {"lapa": {"also_run": []}},
    # Two shards per split (the 3 training and 2 test FASSEG images each fall in one of them).
    "shards": {"fasseg": {"train": 2, "test": 2}, "lapa": {"train": 2, "val": 1, "test": 2}},
    "models": {
        "rf": {"enabled": True, "n_estimators": 10, "seed": 0},
        "hgb": {"enabled": True, "max_iter": 15, "seed": 0},
        "mlp": {"enabled": True, "hidden": [32], "epochs": 3, "batch_size": 256, "lr": 0.01, "seed": 0,
                "device": "cpu"},
    },
}


def write_config(workdir, **overrides):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = deep_update(deep_update(config, TINY), overrides)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def snakemake(workdir, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def planned_jobs(workdir):
    """Job counts of a dry run, by rule, from Snakemake's job-stats table."""
    out = snakemake(workdir, "-n").stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if m[0] != "total"}
