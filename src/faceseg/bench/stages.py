"""The benchmark's stages, each run in a fresh Python process so that its peak memory is its own.

:func:`run_stage` starts ``python -m faceseg.bench.stages JOB``; the stage
reads its arguments from the JSON file JOB and writes its figures beside it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceseg.config import DETECTED_LANDMARKS

#: The benchmark runs on FASSEG V1 with landmarks detected by dlib.
DATASET = "fasseg"
N_LANDMARKS = DETECTED_LANDMARKS


def _limit_threads(n: int):
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(n)
    return threadpool_limits(n)


def _megapixels(image) -> float:
    return image.shape[0] * image.shape[1] / 1e6


def _load(item):
    from faceseg.io import read_image, read_landmarks

    image = read_image(item["image"])
    landmarks = read_landmarks(item["landmarks"], image.shape) if item.get("landmarks") else None
    return image, landmarks


@functools.lru_cache(maxsize=2)
def _atlas(path):
    """The atlas at ``path``, loaded once per process (its one-hot planes are cached with it)."""
    from faceseg.atlas import load_label_atlas

    return None if path is None else load_label_atlas(path)


def _dense_one(args):
    """Dense features of one image, single-threaded: (seconds, megapixels)."""
    from faceseg.features import compute_features

    item, config, atlas_path = args
    with _limit_threads(1):
        image, landmarks = _load(item)
        atlas = _atlas(atlas_path)
        start = time.perf_counter()
        compute_features(image, config, landmarks=landmarks, atlas=atlas)
        return time.perf_counter() - start, _megapixels(image)


def stage_dense(items, config, workers: int = 1, atlas=None):
    """Dense feature extraction, s/MP: one process, or ``workers`` processes over the images."""
    if workers == 1:
        results = [_dense_one((item, config, atlas)) for item in items]
        return {"s_per_mp": sum(s for s, _ in results) / sum(mp for _, mp in results),
                "per_image_s": [round(s, 3) for s, _ in results]}
    from concurrent.futures import ProcessPoolExecutor

    megapixels = 0.0
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        for _, mp in pool.map(_dense_one, [(item, config, atlas) for item in items]):
            megapixels += mp
    return {"s_per_mp": (time.perf_counter() - start) / megapixels, "workers": workers}


def stage_skimage(items, workers: int = 1):
    """scikit-image's multiscale_basic_features (RGB, default settings), s/MP."""
    from skimage.feature import multiscale_basic_features

    from faceseg.io import read_image

    seconds, megapixels, n_features = 0.0, 0.0, None
    with _limit_threads(workers):
        for item in items:
            image = read_image(item["image"])
            start = time.perf_counter()
            out = multiscale_basic_features(image, channel_axis=-1, workers=workers)
            seconds += time.perf_counter() - start
            megapixels += _megapixels(image)
            n_features = out.shape[-1]
    return {"s_per_mp": seconds / megapixels, "n_features": n_features, "workers": workers}


def stage_atlas(items, out_path):
    """The label atlas of the training images (named by their position, as their stores are)."""
    from faceseg.steps.label_atlas import build_atlas

    start = time.perf_counter()
    build_atlas(DATASET, "train", [(str(i), item["image"], item["labels"], item["landmarks"])
                                    for i, item in enumerate(items)], out_path, N_LANDMARKS)
    return {"seconds": time.perf_counter() - start}


def stage_sampled(items, config, sampling, out_dir, n_landmarks=N_LANDMARKS, atlas=None):
    """The training path: class-balanced sampled pixels of each image into its zarr store, s/MP."""
    from faceseg.io import read_image
    from faceseg.steps.extraction import extract_training_features

    seconds, megapixels = 0.0, 0.0
    atlas = _atlas(atlas)
    with _limit_threads(1):
        for i, item in enumerate(items):
            start = time.perf_counter()
            extract_training_features(DATASET, str(i), item["image"], item["labels"], Path(out_dir) / f"{i}.zarr",
                                      config, sampling, item.get("landmarks"), n_landmarks, atlas=atlas,
                                      split="train")
            seconds += time.perf_counter() - start
            megapixels += _megapixels(read_image(item["image"]))
    return {"s_per_mp": seconds / megapixels, "s_per_image": seconds / len(items)}


def stage_merge(stores, out_store, repeat: int = 1):
    from faceseg.store import merge_stores

    start = time.perf_counter()
    attrs = merge_stores(list(stores) * repeat, out_store)
    return {"seconds": time.perf_counter() - start, "rows": attrs["n_rows"]}


def stage_train(kind, store, out_model, params, threads, atlas=None):
    from faceseg.steps.training import train_model

    start = time.perf_counter()
    train_model(kind, store, out_model, params, threads=threads, info={"dataset": DATASET, "experiment": "bench"},
                atlas_path=atlas)
    return {"seconds": time.perf_counter() - start}


def stage_segment(model_path, items, threads, tile_size=256, upscale_to_mp=None, stride=1):
    """Full-resolution segmentation (features + prediction + smoothing), s/MP, model loading and warm-up excluded.

    ``stride`` k: the model classifies every k-th pixel of every k-th row (segmentation.stride).
    """
    import cv2
    import numpy as np

    from faceseg.models import load_model
    from faceseg.segment import segment_image

    model = load_model(model_path)
    seconds, megapixels = 0.0, 0.0
    with _limit_threads(threads):
        # Warm-up, timed apart, on a crop of 2 x 2 tiles (so the parallel tile path runs
        # too): like the imports and the model load, the libraries' first-call set-up
        # (thread pools, OpenCV, the allocator's first large blocks) is paid once per
        # process, and a segmentation job shares it between its images.
        image, landmarks = _load(items[0])
        start = time.perf_counter()
        segment_image(model, np.ascontiguousarray(image[: tile_size + 32, : tile_size + 32]), landmarks,
                      tile_size=tile_size, threads=threads, stride=stride)
        warmup = time.perf_counter() - start
        for item in items:
            image, landmarks = _load(item)
            if upscale_to_mp:
                f = (upscale_to_mp / _megapixels(image)) ** 0.5
                image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
                landmarks = None if landmarks is None else np.asarray(landmarks) * f
            start = time.perf_counter()
            segment_image(model, image, landmarks, tile_size=tile_size, threads=threads, stride=stride)
            seconds += time.perf_counter() - start
            megapixels += _megapixels(image)
    return {"s_per_mp": seconds / megapixels, "megapixels": round(megapixels, 2), "warmup_seconds": round(warmup, 3)}


def _sampled_one(args):
    from faceseg.steps.extraction import extract_training_features

    item, config, sampling, store, atlas = args
    with _limit_threads(1):
        extract_training_features(DATASET, Path(store).stem, item["image"], item["labels"], store, config, sampling,
                                  item["landmarks"], N_LANDMARKS, atlas=_atlas(atlas), split="train")
    return store


def stage_scaling(items, config, sampling, out_dir, workers, atlas=None):
    """Sampled features of generated images in ``workers`` processes, then their merge."""
    import resource
    from concurrent.futures import ProcessPoolExecutor

    from faceseg.store import merge_stores

    out_dir = Path(out_dir)
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        stores = list(pool.map(_sampled_one, [(item, config, sampling, out_dir / f"{i:05d}.zarr", atlas)
                                              for i, item in enumerate(items)], chunksize=4))
    features_s = time.perf_counter() - start
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    start = time.perf_counter()
    merge_stores(stores, out_dir / "train.zarr")
    merge_s = time.perf_counter() - start
    return {"features_s_per_image": features_s / len(items), "merge_s_per_image": merge_s / len(items),
            "s_per_image": (features_s + merge_s) / len(items), "worker_peak_rss_mb": round(worker_rss, 1)}


STAGES = {"dense": stage_dense, "skimage": stage_skimage, "atlas": stage_atlas, "sampled": stage_sampled,
          "merge": stage_merge,
          "train": stage_train, "segment": stage_segment, "scaling": stage_scaling}


def run_stage(name: str, **kwargs) -> dict:
    """Run one stage in a fresh interpreter; returns its figures plus wall time and peak RSS (MB)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"stage": name, "kwargs": kwargs}, fh)
        job = fh.name
    start = time.perf_counter()
    # No progress bars inside the stages: the table is the output.
    proc = subprocess.Popen([sys.executable, "-m", "faceseg.bench.stages", job],
                            env={**os.environ, "TQDM_DISABLE": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark stage {name} failed (exit code {proc.returncode})")
    result = json.loads(Path(job + ".out").read_text())
    os.unlink(job)
    os.unlink(job + ".out")
    # ru_maxrss of the waited-for child only (KB on Linux); pool workers are counted inside the stage.
    return {**result, "wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _run_job(job: str) -> None:
    spec = json.loads(Path(job).read_text())
    result = STAGES[spec["stage"]](**spec["kwargs"])
    Path(job + ".out").write_text(json.dumps(result))


if __name__ == "__main__":
    _run_job(sys.argv[1])
