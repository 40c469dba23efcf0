"""Model files against the joblib pickles they replace: size, load time, ``faceseg segment`` time, labels.

For each model of a finished run (``.faceseg``), the same checkpoint is also
written as the pickle earlier versions wrote (joblib, uncompressed, format 1),
then, side by side in one process and alternating in each repeat: the file's
size; the median time to load it (the pickle through joblib, the model file
through :func:`faceseg.models.load_model`); and the median time of loading it
and segmenting the same FASSEG test photos as ``faceseg segment`` does (one
detector, one thread). The label maps of the two must be identical.

    python -m faceseg.bench --model-files results/models/fasseg/best --fasseg ../shared/data/fasseg
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faceseg.datasets import list_fasseg
from faceseg.decision import decision_path
from faceseg.paths import MODEL_SUFFIX


def _load_pickle(path):
    """What loading a format-1 model did: unpickle the checkpoint (written just now by this run), then its decisions."""
    from faceseg.models.classifier import _from_checkpoint, with_decision_beside
    from faceseg.models.model_file import unpickle_trusted

    checkpoint = unpickle_trusted(path)
    return with_decision_beside(_from_checkpoint(checkpoint, checkpoint["estimator"], path), path)


def _segment(model, photos, detector, out_dir) -> list[np.ndarray]:
    from faceseg.photo import PhotoSegmenter

    segmenter = PhotoSegmenter(model, detector, stride=model.segmentation_stride or 1)
    labels = []
    for photo in photos:
        result = segmenter.segment(photo, out_dir)
        labels.append(np.asarray(Image.open(result["labels"])))
    return labels


def run(model_dir, fasseg_root, n_photos: int = 5, repeats: int = 5) -> list[dict]:
    import joblib

    from faceseg.landmarks import LandmarkDetector
    from faceseg.models import load_model

    photos = [r.image_path for r in list_fasseg(Path(fasseg_root), "V1", "test")[:n_photos]]
    detector = LandmarkDetector()
    results = []
    with tempfile.TemporaryDirectory(prefix="faceseg-model-files-") as tmp:
        for model_file in sorted(Path(model_dir).glob(f"*{MODEL_SUFFIX}")):
            model = load_model(model_file)
            pickle_file = Path(tmp) / f"{model_file.stem}.joblib"
            estimator = model.estimator
            joblib.dump({**model._checkpoint(), "format_version": 1, "estimator": estimator}, pickle_file, compress=0)
            shutil.copy(decision_path(model_file), decision_path(pickle_file))  # the decisions beside it, as both load
            loaders = {"pickle (joblib)": (_load_pickle, pickle_file), "model file": (load_model, model_file)}
            load_s = {name: [] for name in loaders}
            segment_s = {name: [] for name in loaders}
            labels = {}
            for _ in range(repeats):
                for name, (load, path) in loaders.items():
                    start = time.perf_counter()
                    load(path)
                    load_s[name].append(time.perf_counter() - start)
                for name, (load, path) in loaders.items():
                    start = time.perf_counter()
                    labels[name] = _segment(load(path), photos, detector, Path(tmp) / name)
                    segment_s[name].append(time.perf_counter() - start)
            same = all(np.array_equal(a, b) for a, b in zip(*labels.values()))
            for name, (_, path) in loaders.items():
                results.append({"model": model_file.name, "format": name, "bytes": path.stat().st_size,
                                "load_s": statistics.median(load_s[name]),
                                "segment_s": statistics.median(segment_s[name]), "photos": len(photos),
                                "labels_identical": same})
    return results


def format_table(results: list[dict]) -> str:
    lines = ["| model | format | size (MB) | load (s) | load + segment (s) | photos | labels identical |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r['model']} | {r['format']} | {r['bytes'] / 1e6:.1f} | {r['load_s']:.3f} | "
                     f"{r['segment_s']:.2f} | {r['photos']} | {r['labels_identical']} |")
    return "\n".join(lines)
