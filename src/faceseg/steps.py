"""One function per pipeline step; each Snakemake rule's script calls one of these.

Every step reads its inputs, validates them with errors that name the file,
and writes its outputs atomically. An image with no face (detected landmarks)
is not an error: it is recorded as skipped, with the reason, and the run goes on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from faceseg import features
from faceseg.datasets import get_dataset, read_labels
from faceseg.io import InputError, NoFaceError, atomic_output, read_image, read_landmarks, write_landmarks, write_png
from faceseg.metrics import confusion_matrix, scores, write_reports
from faceseg.models import TRAINERS, load_model
from faceseg.sampling import balanced_sample, image_rng
from faceseg.segment import NOT_SEGMENTED, colourise, segment_image
from faceseg.store import merge_stores, open_store, write_sample_store

log = logging.getLogger(__name__)


def detect_landmarks(image_path, out_path, upsample: int = 1, cnn_fallback: bool = True, detector=None) -> None:
    """Detect 68 landmarks and cache them as a LaPa-style file (zero points when no face).

    ``detector``: a loaded :class:`~faceseg.landmarks.LandmarkDetector` to reuse
    across images (``upsample`` and ``cnn_fallback`` then come from it).
    """
    if detector is None:
        from faceseg.landmarks import LandmarkDetector

        detector = LandmarkDetector(upsample, cnn_fallback)
    image = read_image(image_path)
    found = detector.detect(image)
    if found.points is None:
        log.warning("%s: %s; the image will be skipped", image_path, found.reason)
        write_landmarks(out_path, None, f"{image_path}: {found.reason}")
        return
    log.info("%s: %d face(s) found by the %s detector; landmarks of the largest", image_path, found.n_faces,
             found.detector)
    write_landmarks(out_path, found.points)


def landmarks_if_needed(feature_config, landmark_path, image_shape, n_points):
    """The image's landmarks when the features use them, else None; NoFaceError for a no-face file."""
    if not features.needs_landmarks(feature_config):
        return None
    if landmark_path is None:
        raise ValueError("the feature configuration uses landmarks but no landmark file was given")
    return read_landmarks(landmark_path, image_shape=image_shape, n_points=n_points)


def extract_training_features(
    dataset: str,
    image_id: str,
    image_path,
    label_path,
    out_store,
    feature_config: dict,
    sampling: dict,
    landmark_path=None,
    n_landmarks: int | None = None,
) -> None:
    """Sample class-balanced pixels of a training image and store their features."""
    spec = get_dataset(dataset)
    config = features.resolve_config(feature_config)
    image = read_image(image_path)
    if label_path is None:
        raise InputError(f"{image_path}: no label image found for this training image")
    labels = read_labels(spec, label_path, image.shape)
    attrs = {
        "dataset": dataset,
        "image_id": image_id,
        "image_shape": list(image.shape[:2]),
        "class_names": list(spec.class_names),
        "feature_config": config,
        "config_digest": features.config_digest(config),
        "feature_names": features.feature_names(config, n_landmarks),
        "sampling": sampling,
        # All pixels per class: with the sampled counts, lets a model undo the class balancing.
        "class_pixel_counts": np.bincount(labels.ravel(), minlength=spec.n_classes).tolist(),
        "skipped": None,
    }
    try:
        landmarks = landmarks_if_needed(config, landmark_path, image.shape, n_landmarks)
    except NoFaceError as exc:
        log.warning("%s: skipped: %s", image_id, exc)
        attrs["skipped"] = str(exc)
        width = len(attrs["feature_names"])
        write_sample_store(out_store, np.zeros((0, width), np.float32), np.zeros(0, np.uint8),
                           np.zeros((0, 2), np.int32), attrs)
        return
    rng = image_rng(sampling.get("seed", 0), image_id)
    coords = balanced_sample(labels, sampling["samples_per_image"], spec.n_classes, rng)
    X = features.compute_features(image, config, coords=coords, landmarks=landmarks)
    y = labels[coords[:, 0], coords[:, 1]]
    counts = np.bincount(y, minlength=spec.n_classes)
    log.info("%s: %d samples x %d features; per class %s", image_id, len(y), X.shape[1],
             dict(zip(spec.class_names, counts.tolist())))
    write_sample_store(out_store, X, y, coords, attrs)


def merge_training_features(stores, out_store) -> None:
    attrs = merge_stores(stores, out_store)
    log.info("merged %d stores: %d rows x %d features; %d skipped", len(stores), attrs["n_rows"],
             len(attrs["feature_names"]), len(attrs["skipped"]))


def train_model(kind: str, store, out_model, params: dict, threads: int = 1, info: dict | None = None) -> None:
    """Train a model of ``kind`` (``rf`` or ``mlp``) on a merged store and save it."""
    if kind not in TRAINERS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(TRAINERS)}")
    group = open_store(store)
    info = {
        **(info or {}),
        "train_store": str(store),
        "sampling": group.attrs.get("sampling"),
        "config_digest": group.attrs.get("config_digest"),
        "training_images": group.attrs.get("image_ids", []),
        "skipped_training_images": group.attrs.get("skipped", []),
    }
    model = TRAINERS[kind](group, params, threads=threads, info=info)
    model.save(out_model)
    log.info("saved %s model to %s", kind, out_model)


def segment_test_image(
    model_path,
    dataset: str,
    image_id: str,
    image_path,
    label_path,
    out_labels,
    out_colour,
    out_confusion,
    landmark_path=None,
    n_landmarks: int | None = None,
    tile_size: int = 256,
    threads: int = 1,
) -> None:
    """Segment one image at full resolution and score it against its labels.

    With no face found, the label map is all ``NOT_SEGMENTED`` (255) and the
    confusion file records the skip, so the evaluation can report it.
    """
    model = load_model(model_path)
    spec = get_dataset(dataset)
    if model.class_names != list(spec.class_names):
        raise ValueError(
            f"{model_path}: the model's classes {model.class_names} are not those of {dataset} {list(spec.class_names)}"
        )
    image = read_image(image_path)
    labels = read_labels(spec, label_path, image.shape) if label_path else None
    record = {"image_id": image_id, "model": model.kind, "skipped": None, "confusion": None}
    try:
        landmarks = landmarks_if_needed(model.feature_config, landmark_path, image.shape, n_landmarks)
    except NoFaceError as exc:
        log.warning("%s: not segmented: %s", image_id, exc)
        pred = np.full(image.shape[:2], NOT_SEGMENTED, np.uint8)
        record["skipped"] = str(exc)
    else:
        pred = segment_image(model, image, landmarks, tile_size=tile_size, threads=threads)
        if labels is not None:
            record["confusion"] = confusion_matrix(labels, pred, spec.n_classes).tolist()
    write_png(out_labels, pred)
    write_png(out_colour, colourise(pred, spec.palette()))
    with atomic_output(out_confusion) as tmp:
        Path(tmp).write_text(json.dumps(record) + "\n")


def evaluate(confusion_paths, out_json, out_csv, out_md, dataset: str, info: dict | None = None) -> dict:
    """Sum per-image confusion matrices over a split and write the reports."""
    spec = get_dataset(dataset)
    total = np.zeros((spec.n_classes, spec.n_classes), dtype=np.int64)
    skipped, n_images = [], 0
    for path in confusion_paths:
        record = json.loads(Path(path).read_text())
        if record["skipped"]:
            skipped.append({"image_id": record["image_id"], "reason": record["skipped"]})
        elif record["confusion"] is not None:
            total += np.asarray(record["confusion"], dtype=np.int64)
            n_images += 1
    metrics = scores(total, spec.class_names)
    metrics = {
        **{k: metrics[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground")},
        "n_images": n_images,
        "skipped": skipped,
        "per_class": metrics["per_class"],
        "confusion_matrix": total.tolist(),
        "class_names": list(spec.class_names),
        **(info or {}),
    }
    title = " / ".join(str(info[k]) for k in ("dataset", "experiment", "model") if info and k in info) or "metrics"
    write_reports(metrics, out_json, out_csv, out_md, title)
    return metrics
