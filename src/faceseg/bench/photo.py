"""Speed of ``faceseg segment`` as a user runs it, against scikit-image's feature extraction on the same photos.

Each repeat times, side by side: scikit-image's ``multiscale_basic_features``
on the photos (one thread, and ``jobs`` threads), then for each model the
installed ``faceseg segment`` command on all the photos and on the first one
alone (a fresh process each time: imports, model and detector loading
included). The difference of the two calls is the cost of the other photos,
so the table gives both the whole call and the photos' share of it per
megapixel. Medians over the repeats.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from faceseg.bench.stages import run_stage
from faceseg.datasets import list_fasseg
from faceseg.io import read_image


def _command_seconds(model, photos, jobs: int, out_dir: Path) -> float:
    # The console script of this interpreter's environment (which need not be on PATH).
    beside = Path(sys.executable).with_name("faceseg")
    exe = str(beside) if beside.is_file() else shutil.which("faceseg")
    if exe is None:
        raise RuntimeError("the faceseg console script is not installed (pip install -e .)")
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([exe, "segment", *map(str, photos), "--model", str(model), "-o", str(out_dir),
                           "--jobs", str(jobs)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"faceseg segment failed: {proc.stderr[-2000:]}")
    return seconds


def run(models: list, fasseg_root, n_photos: int = 10, jobs: int = 2, repeats: int = 3) -> dict:
    """Median timings of ``faceseg segment`` per model and of scikit-image, on the first V1 test photos."""
    photos = [r.image_path for r in list_fasseg(fasseg_root, "V1", "test")[:n_photos]]
    megapixels = [np.prod(read_image(p).shape[:2]) / 1e6 for p in photos]
    items = [{"image": str(p)} for p in photos]
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="faceseg-photo-bench-") as tmp:
        for _ in range(repeats):
            for workers in sorted({1, jobs}):
                result = run_stage("skimage", items=items, workers=workers)
                samples.setdefault(f"skimage_{workers}", []).append(result["s_per_mp"])
            for model in models:
                name = Path(model).stem
                samples.setdefault(f"{name}_all", []).append(_command_seconds(model, photos, jobs, Path(tmp) / "a"))
                samples.setdefault(f"{name}_one", []).append(_command_seconds(model, photos[:1], jobs,
                                                                              Path(tmp) / "b"))
    median = {key: statistics.median(values) for key, values in samples.items()}
    total_mp, first_mp = sum(megapixels), megapixels[0]
    results = {"photos": len(photos), "megapixels": round(total_mp, 3), "jobs": jobs, "repeats": repeats,
               "skimage_s_per_mp": {w: median[f"skimage_{w}"] for w in sorted({1, jobs})}, "models": {}}
    reference = median[f"skimage_{jobs}"]
    for model in models:
        name = Path(model).stem
        whole, one = median[f"{name}_all"], median[f"{name}_one"]
        photos_s_per_mp = (whole - one) / (total_mp - first_mp) if len(photos) > 1 else float("nan")
        results["models"][name] = {
            "model": str(model), "call_s": round(whole, 2), "one_photo_call_s": round(one, 2),
            "call_s_per_mp": whole / total_mp, "photos_s_per_mp": photos_s_per_mp,
            "start_up_s": round(one - photos_s_per_mp * first_mp, 2),
            "call_vs_skimage": whole / total_mp / reference, "photos_vs_skimage": photos_s_per_mp / reference,
        }
    return results


def format_table(results) -> str:
    jobs = results["jobs"]
    sk = results["skimage_s_per_mp"]
    lines = [f"faceseg segment on {results['photos']} V1 test photos ({results['megapixels']} MP), --jobs {jobs}, "
             f"medians of {results['repeats']} repeats",
             "scikit-image multiscale_basic_features: "
             + ", ".join(f"{w} thread{'s' if int(w) > 1 else ''} {v:.3f} s/MP" for w, v in sk.items()), "",
             "| model | whole call s | s/MP | x skimage | photos only s/MP | x skimage | start-up s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["models"].items():
        lines.append(f"| {name} | {r['call_s']:.2f} | {r['call_s_per_mp']:.3f} | {r['call_vs_skimage']:.2f} | "
                     f"{r['photos_s_per_mp']:.3f} | {r['photos_vs_skimage']:.2f} | {r['start_up_s']:.2f} |")
    lines.append(f"\n(x skimage: against scikit-image with {jobs} thread{'s' if jobs > 1 else ''}, the cores "
                 "the command used)")
    return "\n".join(lines)
