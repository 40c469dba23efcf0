"""Class probabilities of the evaluation images and the labels decided on them (rules segment_images, decide_labels)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from faceseg.datasets import get_dataset, read_labels
from faceseg.decision import (
    bias_vector,
    biased_argmax,
    prior_weights,
)
from faceseg.io import InputError, atomic_output, image_shape, read_image_reduced, write_png
from faceseg.logutil import ShardTimer, progress
from faceseg.metrics import ConfusionRecord, confusion_matrix
from faceseg.models import load_model
from faceseg.models.decision_file import read_decision
from faceseg.paths import prediction_file
from faceseg.probability_store import probability_shard_writer, read_probability_shard
from faceseg.provenance import record as provenance_record
from faceseg.segment import (
    NOT_SEGMENTED,
    canvas_grid,
    canvas_proba,
    colourise,
    model_canvas,
    smoothed_at_image,
)
from faceseg.steps.landmarks import landmarks_if_needed

log = logging.getLogger(__name__)


def _evaluation_model(model_path, dataset: str):
    model = load_model(model_path)
    spec = get_dataset(dataset)
    if model.class_names != list(spec.class_names):
        raise ValueError(
            f"{model_path}: the model's classes {model.class_names} are not those of {dataset} {list(spec.class_names)}"
        )
    return model


def _probability_attrs(model, stride: int) -> dict:
    return {"model": model.kind, "class_names": list(model.class_names), "stride": stride,
            "class_pixel_counts": model.info.get("class_pixel_counts"),
            "class_sample_counts": model.info.get("class_sample_counts")}


def image_probabilities(model, image_id: str, image_path, landmark_path=None, n_landmarks: int | None = None,
                        tile_size: int = 256, threads: int = 1, stride: int = 1):
    """``(grid posteriors or None, image shape or None, skip reason or None, canvas or None)`` of one image.

    The posteriors are the model's class-balanced ones on the stride grid of
    the image's canvas (:func:`~faceseg.segment.framed_grid`: the model's
    framing, or the image as it is); an image that cannot be read or has no
    face is skipped with the reason.
    """
    try:
        shape = image_shape(image_path)  # from the header: the image is decoded once its canvas is known
    except InputError as exc:
        log.error("%s: not segmented: %s", image_id, exc)
        return None, None, str(exc), None
    try:
        landmarks = landmarks_if_needed(model.feature_config, landmark_path, shape, n_landmarks,
                                        bool(model.info.get("framing")))
        canvas = model_canvas(model, shape, landmarks)
        # A large photo framed small is decoded small (JPEG).
        image, reduction = read_image_reduced(image_path, canvas.reduction_scale)
    except InputError as exc:  # no face, a bad landmark file, or an image that does not decode
        log.warning("%s: not segmented: %s", image_id, exc)
        return None, shape, str(exc), None
    grid = canvas_grid(model, canvas.picture(image, reduction), canvas, landmarks, tile_size, threads,
                       apply_prior=False, stride=stride, progress=lambda tiles: progress(tiles, f"{image_id}: tiles"))
    return grid, shape, None, canvas


def segment_shard(model_path, dataset: str, images: list[dict], out_store, n_landmarks: int | None = None,
                  tile_size: int = 256, threads: int = 1, stride: int = 1, provenance: dict | None = None) -> dict:
    """Class posteriors of a shard of evaluation images with one model, loaded once, into a probability store.

    ``images``: one ``{"image_id", "image", "landmarks"}`` per image. An image
    that cannot be used is recorded as skipped, with the reason, and the
    others go on. ``provenance``: the rule's code fingerprint, recorded in the
    store's attributes with the versions that made it. Returns the timing.
    """
    model = _evaluation_model(model_path, dataset)
    timer = ShardTimer("segment_images")
    attrs = {**_probability_attrs(model, stride), "provenance": provenance_record(provenance)}
    with probability_shard_writer(out_store, attrs) as add:
        for item in images:
            with timer.image():
                grid, shape, skipped, canvas = image_probabilities(model, item["image_id"], item["image"],
                                                                   item.get("landmarks"), n_landmarks, tile_size,
                                                                   threads, stride)
                add(item["image_id"], grid, shape, skipped, canvas)
    return timer.report()


def decide_image(spec, model_kind: str, image_id: str, grid, stride: int, shape, decision: dict, class_weights,
                 label_path=None, skipped: str | None = None, canvas=None):
    """Labels and the confusion record of one image from its grid posteriors and the decision parameters.

    ``canvas``: where the grid lies on the image (None: the image as it is);
    the smoothing width is in canvas pixels. Returns ``(labels or None,
    ConfusionRecord)``; the labels are all ``NOT_SEGMENTED`` for a skipped
    image whose size is known, None when it is not.
    """
    record = ConfusionRecord(image_id, model_kind, skipped)
    if skipped is not None:
        return (None if shape is None else np.full(shape, NOT_SEGMENTED, np.uint8)), record
    bias = bias_vector(decision["class_bias"], spec.class_names, f"models.{model_kind}.class_bias")
    on_canvas = canvas_proba(grid, stride, shape, class_weights, canvas)
    pred = biased_argmax(smoothed_at_image(on_canvas, canvas, decision["smooth_sigma"]), bias)
    if label_path is not None:
        try:
            labels = read_labels(spec, label_path, shape)
        except InputError as exc:
            log.error("%s: not scored: %s", image_id, exc)
            record.skipped = str(exc)
            return pred, record
        record.confusion = confusion_matrix(labels, pred, spec.n_classes)
        if decision["smooth_sigma"] > 0:
            # The same probabilities without the spatial post-processing: its own row in the summary.
            per_pixel = biased_argmax(smoothed_at_image(on_canvas, canvas, 0), bias)
            record.confusion_per_pixel = confusion_matrix(labels, per_pixel, spec.n_classes)
    return pred, record


def _write_prediction(folder, image_id, pred, record: ConfusionRecord, palette) -> None:
    if pred is not None:
        write_png(prediction_file(folder, "labels", image_id), pred)
        write_png(prediction_file(folder, "colour", image_id), colourise(pred, palette))
    record.write(prediction_file(folder, "confusion", image_id))


def decide_shard(proba_store, decision_file, dataset: str, images: list[dict], out_dir) -> dict:
    """Labels, colour pictures and confusion records of a shard from its stored posteriors.

    ``images``: one ``{"image_id", "image", "labels"}`` per image (labels may
    be None). The decision parameters come from ``decision_file``
    (:func:`faceseg.models.decision_file.write_decision`). Writes :data:`faceseg.paths.PREDICTION_LAYOUT` under
    ``out_dir``, which appears when every image is done. Returns the timing.
    """
    spec = get_dataset(dataset)
    attrs, stored = read_probability_shard(proba_store)
    if list(attrs["class_names"]) != list(spec.class_names):
        raise ValueError(f"{proba_store}: classes {attrs['class_names']} are not those of {dataset}")
    decision = read_decision(decision_file, attrs["model"])
    weights = prior_weights(attrs, decision["prior_correction"])
    by_id = {entry.image_id: entry for entry in stored}
    missing = [item["image_id"] for item in images if item["image_id"] not in by_id]
    if missing:
        raise InputError(f"{proba_store}: no probabilities for images {missing[:5]}")
    timer = ShardTimer("decide_labels")
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for item in images:
            with timer.image():
                entry = by_id[item["image_id"]]
                pred, record = decide_image(spec, attrs["model"], entry.image_id,
                                            None if entry.skipped else entry.proba(), attrs["stride"],
                                            entry.image_shape, decision, weights, item.get("labels"),
                                            entry.skipped, None if entry.skipped else entry.canvas)
                _write_prediction(tmp, entry.image_id, pred, record, spec.palette())
    return timer.report()


def segment_test_image(model_path, dataset: str, image_id: str, image_path, label_path, out_labels, out_colour,
                       out_confusion, landmark_path=None, n_landmarks: int | None = None, tile_size: int = 256,
                       threads: int = 1, stride: int = 1, model=None) -> None:
    """Segment and score one image in memory with the model's own decision parameters.

    What :func:`segment_shard` and :func:`decide_shard` do for a shard,
    without the probability store between them.
    """
    model = _evaluation_model(model_path, dataset) if model is None else model
    spec = get_dataset(dataset)
    grid, shape, skipped, canvas = image_probabilities(model, image_id, image_path, landmark_path, n_landmarks,
                                                       tile_size, threads, stride)
    if skipped and shape is None:
        raise InputError(skipped)
    pred, record = decide_image(spec, model.kind, image_id, grid, stride, shape, model.decision,
                                model.class_weights, label_path, skipped, canvas)
    write_png(out_labels, pred)
    write_png(out_colour, colourise(pred, spec.palette()))
    record.write(out_confusion)
