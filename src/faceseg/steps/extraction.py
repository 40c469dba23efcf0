"""Sampled training pixels and their features (rules extract_features, merge_features)."""

from __future__ import annotations

import logging

import numpy as np

from faceseg import augment as augmentation
from faceseg import features
from faceseg.atlas import load_label_atlas
from faceseg.datasets import get_dataset, read_labels
from faceseg.framing import Canvas, ImageFraming, face_frame_of
from faceseg.io import InputError, NoFaceError, image_shape, read_image, read_image_reduced
from faceseg.logutil import ShardTimer
from faceseg.sampling import image_rng, sample_pixels
from faceseg.steps.landmarks import landmarks_if_needed
from faceseg.store import merge_stores, sample_shard_writer, write_sample_store

log = logging.getLogger(__name__)


def sample_training_image(
    dataset: str,
    image_id: str,
    image_path,
    label_path,
    feature_config: dict,
    sampling: dict,
    landmark_path=None,
    n_landmarks: int | None = None,
    atlas=None,
    split: str | None = None,
    framing: dict | None = None,
):
    """Sampled pixels (``sampling.balance``) of a training image and their features: ``(X, y, coords, attrs)``.

    ``framing``: the ``framing`` settings (:class:`~faceseg.framing.ImageFraming`;
    None: the image as it is). The pixels are sampled from the image's own
    canvas's labels (each canvas pixel labelled as the image pixel nearest
    it) and described there; ``coords`` are the nearest image pixels.

    ``atlas``: the label atlas (a :class:`~faceseg.atlas.LabelAtlas` or its
    file) when the features include ``label_atlas``; the image itself (by
    ``split`` and ``image_id``) is left out of it. An image without a face
    gives no rows and ``attrs["skipped"]`` says why; a bad file raises
    :class:`InputError` naming it.
    """
    spec = get_dataset(dataset)
    config = features.resolve_config(feature_config)
    atlas = atlas_for(config, atlas)
    if atlas is not None:
        atlas = atlas.without(split, image_id)
    shape = image_shape(image_path)  # from the header: the image is decoded once its canvas is known
    if label_path is None:
        raise InputError(f"{image_path}: no label image found for this training image")
    labels = read_labels(spec, label_path, shape)
    framer = ImageFraming.of(framing)
    attrs = _sample_attrs(spec, image_id, config, sampling, n_landmarks, framer)
    attrs.update(image_shape=list(shape),
                 # All pixels per class: with the sampled counts, lets a model undo the class balancing.
                 class_pixel_counts=np.bincount(labels.ravel(), minlength=spec.n_classes).tolist())
    try:
        landmarks = landmarks_if_needed(config, landmark_path, shape, n_landmarks, framer is not None)
    except NoFaceError as exc:
        log.warning("%s: skipped: %s", image_id, exc)
        return (*_no_samples(attrs), {**attrs, "skipped": str(exc)})
    canvas = Canvas.whole(shape) if framer is None or landmarks is None else framer.canvas(shape, landmarks)
    if landmarks is not None:
        attrs["face_frame"] = face_frame_of(landmarks, config, canvas.zoom, shape)
    if framer is not None:
        attrs["canvas"] = canvas.record()
    rng = image_rng(sampling.get("seed", 0), image_id)
    augment = augmentation.validate(sampling.get("augment"))
    # A large photo framed small is decoded small (JPEG), unless augmented copies need it whole.
    image, reduction = (read_image_reduced(image_path, canvas.reduction_scale) if not augment["copies"]
                        else (read_image(image_path), 1))
    views = [(canvas.picture(image, reduction), labels, landmarks, canvas)]
    for _ in range(augment["copies"]):
        copy, copy_labels, copy_landmarks = augmentation.augmented_copy(image, labels, landmarks, augment, rng,
                                                                        spec.class_names, spec.n_classes)
        copy_canvas = (Canvas.whole(copy.shape) if framer is None or copy_landmarks is None
                       else framer.canvas(copy.shape, copy_landmarks))
        views.append((copy_canvas.picture(copy), copy_labels, copy_landmarks, copy_canvas))
    # The sample budget is shared by the image and its copies (the image takes the remainder).
    quotas = [sampling["samples_per_image"] // len(views)] * len(views)
    quotas[0] += sampling["samples_per_image"] - sum(quotas)
    parts = []
    uses_points = features.needs_landmarks(config)
    for (picture, view_labels, view_landmarks, view_canvas), quota in zip(views, quotas):
        # Sampled on the canvas, each pixel labelled as the image pixel nearest it: the features'
        # pixels, and a sampling cost that does not grow with the image.
        canvas_labels = view_canvas.labels(view_labels)
        canvas_coords = sample_pixels(canvas_labels, quota, spec.n_classes, rng, sampling.get("balance"))
        X = features.compute_features(picture, config, coords=canvas_coords,
                                      landmarks=view_canvas.points(view_landmarks) if uses_points else None,
                                      atlas=atlas, location_map=view_canvas.location_map())
        parts.append((X, canvas_labels[canvas_coords[:, 0], canvas_coords[:, 1]],
                      view_canvas.image_pixels(canvas_coords)))
    # coords: each row's pixel in the picture it was sampled from (the image or one of its copies).
    X, y, coords = (np.concatenate(arrays) for arrays in zip(*parts))
    counts = np.bincount(y, minlength=spec.n_classes)
    log.info("%s: %d samples x %d features; per class %s", image_id, len(y), X.shape[1],
             dict(zip(spec.class_names, counts.tolist())))
    return X, y, coords, attrs


def _sample_attrs(spec, image_id, config, sampling, n_landmarks, framer=None) -> dict:
    return {
        "framing": None if framer is None else framer.as_dict(),
        "dataset": spec.name,
        "image_id": image_id,
        "class_names": list(spec.class_names),
        "feature_config": config,
        "config_digest": features.config_digest(config),
        "feature_names": features.feature_names(config, n_landmarks),
        "sampling": sampling,
        "skipped": None,
    }


def _no_samples(attrs):
    width = len(attrs["feature_names"])
    return np.zeros((0, width), np.float32), np.zeros(0, np.uint8), np.zeros((0, 2), np.int32)


def extract_training_features(dataset: str, image_id: str, image_path, label_path, out_store, feature_config: dict,
                              sampling: dict, landmark_path=None, n_landmarks: int | None = None, atlas=None,
                              split: str | None = None, framing: dict | None = None) -> None:
    """Write one training image's samples (:func:`sample_training_image`) as a zarr store."""
    write_sample_store(out_store, *sample_training_image(dataset, image_id, image_path, label_path, feature_config,
                                                         sampling, landmark_path, n_landmarks, atlas, split, framing))


def extract_features_shard(dataset: str, images: list[dict], out_store, feature_config: dict, sampling: dict,
                           n_landmarks: int | None = None, atlas=None, split: str | None = None,
                           framing: dict | None = None) -> dict:
    """Sampled features of a shard of training images into one shard store (a group per image).

    ``images``: one ``{"image_id", "image", "labels", "landmarks"}`` per image.
    The atlas is loaded once. An image that cannot be used (unreadable, bad
    labels or landmarks, no face) is kept as a group with no rows whose
    ``skipped`` says why, and the other images go on. Returns the timing.
    """
    config = features.resolve_config(feature_config)
    atlas = atlas_for(config, atlas)
    spec = get_dataset(dataset)
    timer = ShardTimer("extract_features")
    with sample_shard_writer(out_store) as add:
        for item in images:
            with timer.image():
                try:
                    X, y, coords, attrs = sample_training_image(
                        dataset, item["image_id"], item["image"], item.get("labels"), config, sampling,
                        item.get("landmarks"), n_landmarks, atlas, split, framing)
                except InputError as exc:
                    log.error("%s: skipped: %s", item["image_id"], exc)
                    attrs = {**_sample_attrs(spec, item["image_id"], config, sampling, n_landmarks,
                                             ImageFraming.of(framing)),
                             "skipped": str(exc)}
                    X, y, coords = _no_samples(attrs)
                add(X, y, coords, attrs)
    return timer.report()


def atlas_for(config, atlas):
    """The label atlas the features need (loaded when given as a path), else None."""
    if not features.needs_atlas(config):
        return None
    if atlas is None:
        raise ValueError("the feature configuration includes label_atlas but no label atlas was given")
    return atlas if hasattr(atlas, "transfer") else load_label_atlas(atlas)


def merge_training_features(stores, out_store, order=None) -> None:
    """Merge per-image or shard stores into the training store, images in ``order`` (ids; None: as given)."""
    attrs = merge_stores(stores, out_store, order=order)
    log.info("merged %d stores: %d rows x %d features; %d skipped", len(stores), attrs["n_rows"],
             len(attrs["feature_names"]), len(attrs["skipped"]))
