"""One function per pipeline step; each Snakemake rule's script calls one of these.

Every step reads its inputs, validates them with errors that name the file,
and writes its outputs atomically. An image with no face (detected landmarks)
is not an error: it is recorded as skipped, with the reason, and the run goes on.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from faceseg import features
from faceseg.atlas import build_label_atlas, load_label_atlas
from faceseg.datasets import get_dataset, read_labels
from faceseg.io import (
    InputError,
    NoFaceError,
    atomic_output,
    read_image,
    read_landmarks,
    write_landmarks,
    write_png,
)
from faceseg.logutil import ShardTimer, progress
from faceseg.metrics import bootstrap_intervals, confusion_matrix, scores, write_reports
from faceseg.models import (
    DECISION_DEFAULTS,
    TRAINERS,
    bias_vector,
    check_decision,
    load_model,
    prior_weights,
    read_decision,
)
from faceseg.probability_store import probability_shard_writer, read_probability_shard
from faceseg.sampling import balanced_sample, image_rng
from faceseg.segment import (
    NOT_SEGMENTED,
    biased_argmax,
    colourise,
    labels_from_proba,
    predict_proba_grid,
    proba_from_grid,
    segment_image,
)
from faceseg.store import merge_stores, open_store, sample_shard_writer, write_sample_store

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


def detect_landmarks_shard(images: list[dict], out_dir, upsample: int = 1, cnn_fallback: bool = True) -> dict:
    """Landmarks of a shard of images into ``out_dir/<image_id>.txt``, dlib's models loaded once.

    ``images``: one ``{"image_id", "image"}`` per image. An unreadable image
    gets a no-face file whose reason names it, so the steps after skip it and
    say why. The folder appears when every image is done. Returns the timing.
    """
    from faceseg.landmarks import LandmarkDetector

    detector = LandmarkDetector(upsample, cnn_fallback)
    timer = ShardTimer("detect_landmarks")
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for item in images:
            out = Path(tmp) / f"{item['image_id']}.txt"
            with timer.image():
                try:
                    detect_landmarks(item["image"], out, detector=detector)
                except InputError as exc:
                    log.error("%s: skipped: %s", item["image_id"], exc)
                    write_landmarks(out, None, str(exc))
    return timer.report()


def landmarks_if_needed(feature_config, landmark_path, image_shape, n_points):
    """The image's landmarks when the features use them, else None; NoFaceError for a no-face file."""
    if not features.needs_landmarks(feature_config):
        return None
    if landmark_path is None:
        raise ValueError("the feature configuration uses landmarks but no landmark file was given")
    return read_landmarks(landmark_path, image_shape=image_shape, n_points=n_points)


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
):
    """Class-balanced sampled pixels of a training image and their features: ``(X, y, coords, attrs)``.

    ``atlas``: the label atlas (a :class:`~faceseg.atlas.LabelAtlas` or its
    file) when the features include ``label_atlas``; the image itself (by
    ``split`` and ``image_id``) is left out of it. An image without a face
    gives no rows and ``attrs["skipped"]`` says why; a bad file raises
    :class:`InputError` naming it.
    """
    spec = get_dataset(dataset)
    config = features.resolve_config(feature_config)
    atlas = _atlas_for(config, atlas)
    if atlas is not None:
        atlas = atlas.without(split, image_id)
    image = read_image(image_path)
    if label_path is None:
        raise InputError(f"{image_path}: no label image found for this training image")
    labels = read_labels(spec, label_path, image.shape)
    attrs = _sample_attrs(spec, image_id, config, sampling, n_landmarks)
    attrs.update(image_shape=list(image.shape[:2]),
                 # All pixels per class: with the sampled counts, lets a model undo the class balancing.
                 class_pixel_counts=np.bincount(labels.ravel(), minlength=spec.n_classes).tolist())
    try:
        landmarks = landmarks_if_needed(config, landmark_path, image.shape, n_landmarks)
    except NoFaceError as exc:
        log.warning("%s: skipped: %s", image_id, exc)
        return (*_no_samples(attrs), {**attrs, "skipped": str(exc)})
    if landmarks is not None:
        attrs["face_frame"] = face_frame_of(landmarks, config)
    rng = image_rng(sampling.get("seed", 0), image_id)
    coords = balanced_sample(labels, sampling["samples_per_image"], spec.n_classes, rng)
    X = features.compute_features(image, config, coords=coords, landmarks=landmarks, atlas=atlas)
    y = labels[coords[:, 0], coords[:, 1]]
    counts = np.bincount(y, minlength=spec.n_classes)
    log.info("%s: %d samples x %d features; per class %s", image_id, len(y), X.shape[1],
             dict(zip(spec.class_names, counts.tolist())))
    return X, y, coords, attrs


def _sample_attrs(spec, image_id, config, sampling, n_landmarks) -> dict:
    return {
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
                              split: str | None = None) -> None:
    """Write one training image's samples (:func:`sample_training_image`) as a zarr store."""
    write_sample_store(out_store, *sample_training_image(dataset, image_id, image_path, label_path, feature_config,
                                                         sampling, landmark_path, n_landmarks, atlas, split))


def extract_features_shard(dataset: str, images: list[dict], out_store, feature_config: dict, sampling: dict,
                           n_landmarks: int | None = None, atlas=None, split: str | None = None) -> dict:
    """Sampled features of a shard of training images into one shard store (a group per image).

    ``images``: one ``{"image_id", "image", "labels", "landmarks"}`` per image.
    The atlas is loaded once. An image that cannot be used (unreadable, bad
    labels or landmarks, no face) is kept as a group with no rows whose
    ``skipped`` says why, and the other images go on. Returns the timing.
    """
    config = features.resolve_config(feature_config)
    atlas = _atlas_for(config, atlas)
    spec = get_dataset(dataset)
    timer = ShardTimer("extract_features")
    with sample_shard_writer(out_store) as add:
        for item in images:
            with timer.image():
                try:
                    X, y, coords, attrs = sample_training_image(
                        dataset, item["image_id"], item["image"], item.get("labels"), config, sampling,
                        item.get("landmarks"), n_landmarks, atlas, split)
                except InputError as exc:
                    log.error("%s: skipped: %s", item["image_id"], exc)
                    attrs = {**_sample_attrs(spec, item["image_id"], config, sampling, n_landmarks),
                             "skipped": str(exc)}
                    X, y, coords = _no_samples(attrs)
                add(X, y, coords, attrs)
    return timer.report()


def _atlas_for(config, atlas):
    """The label atlas the features need (loaded when given as a path), else None."""
    if not features.needs_atlas(config):
        return None
    if atlas is None:
        raise ValueError("the feature configuration includes label_atlas but no label atlas was given")
    return atlas if hasattr(atlas, "transfer") else load_label_atlas(atlas)


def read_label_atlas(dataset: str, split: str, images, n_landmarks: int | None = None):
    """The label atlas of ``images``: ``(image_id, image_path, label_path, landmark_path)`` each.

    An image without a face, or whose files cannot be used, is left out, with a warning.
    """
    spec = get_dataset(dataset)

    def entries():
        for image_id, image_path, label_path, landmark_path in images:
            try:
                image = read_image(image_path)
                if label_path is None:
                    raise InputError(f"{image_path}: no label image found for this atlas image")
                labels = read_labels(spec, label_path, image.shape)
                points = read_landmarks(landmark_path, image_shape=image.shape, n_points=n_landmarks)
            except InputError as exc:  # no face, or a bad file: the atlas is made of the others
                log.warning("%s: left out of the label atlas: %s", image_id, exc)
                yield image_id, None, None
                continue
            yield image_id, labels, points

    return build_label_atlas(split, entries(), spec.class_names)


def build_atlas(dataset: str, split: str, images, out_path, n_landmarks: int | None = None) -> None:
    """Write the label atlas of ``images`` (as :func:`read_label_atlas`) to ``out_path``."""
    atlas = read_label_atlas(dataset, split, images, n_landmarks)
    atlas.save(out_path)
    log.info("label atlas of %d %s images: %s", len(atlas.ids), split, ", ".join(atlas.ids))


def face_frame_of(landmarks, feature_config) -> dict:
    """Where the face sits in an image: the landmark frame's origin (x, y) and scale, in pixels."""
    from faceseg.features.landmarks import face_frame

    frame = feature_config.get("landmarks", {}).get("frame", "auto")
    origin, _, scale = face_frame(landmarks, frame)
    return {"origin": [float(origin[0]), float(origin[1])], "scale": float(scale)}


def face_framing(frames) -> dict | None:
    """The training images' typical framing (medians), from per-image ``face_frame`` records.

    ``scale`` is the face scale in pixels; ``origin`` the face origin as a
    fraction of the image width and height; ``size`` the image width and height
    in face scales. A new photo is cropped and resized to match (segment_photo).
    """
    frames = [f for f in frames or [] if f]
    if not frames:
        return None
    scale = np.array([f["scale"] for f in frames])
    shape = np.array([f["image_shape"] for f in frames], dtype=np.float64)  # (h, w)
    origin = np.array([f["origin"] for f in frames])  # (x, y)
    return {
        "scale": float(np.median(scale)),
        "origin": [float(np.median(origin[:, 0] / shape[:, 1])), float(np.median(origin[:, 1] / shape[:, 0]))],
        "size": [float(np.median(shape[:, 1] / scale)), float(np.median(shape[:, 0] / scale))],
        "n_images": len(frames),
    }


def merge_training_features(stores, out_store, order=None) -> None:
    """Merge per-image or shard stores into the training store, images in ``order`` (ids; None: as given)."""
    attrs = merge_stores(stores, out_store, order=order)
    log.info("merged %d stores: %d rows x %d features; %d skipped", len(stores), attrs["n_rows"],
             len(attrs["feature_names"]), len(attrs["skipped"]))


def train_model(kind: str, store, out_model, params: dict, threads: int = 1, info: dict | None = None,
                atlas_path=None) -> None:
    """Train a model of ``kind`` (``rf``, ``hgb`` or ``mlp``) on a merged store and save it.

    ``atlas_path``: the label atlas the training features were computed with
    (features with ``label_atlas``); it is saved inside the model, which
    describes new images with it.
    """
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
        "face_framing": face_framing(group.attrs.get("face_frames")),
        # The training images' class shares: the decisions' prior correction is computed from them.
        "class_pixel_counts": group.attrs.get("class_pixel_counts"),
        "class_sample_counts": group.attrs.get("class_sample_counts"),
    }
    atlas = _atlas_for(group.attrs["feature_config"], atlas_path)  # before training: fail fast
    model = TRAINERS[kind](group, params, threads=threads, info=info)
    model.label_atlas = atlas
    model.save(out_model)
    log.info("saved %s model to %s", kind, out_model)


def write_decision(kind: str, params: dict, out_path) -> None:
    """Write a model's decision parameters (validated, defaults filled in) as JSON.

    :func:`~faceseg.models.load_model` applies the file beside a model, so
    ``faceseg segment`` decides as the workflow does.
    """
    decision = check_decision(kind, params)
    with atomic_output(out_path) as tmp:
        Path(tmp).write_text(json.dumps(decision, indent=2, sort_keys=True) + "\n")


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
    """``(grid posteriors or None, image shape or None, skip reason or None)`` of one evaluation image.

    The posteriors are the model's class-balanced ones on the stride grid
    (:func:`~faceseg.segment.predict_proba_grid`); an image that cannot be
    read or has no face is skipped with the reason.
    """
    try:
        image = read_image(image_path)
    except InputError as exc:
        log.error("%s: not segmented: %s", image_id, exc)
        return None, None, str(exc)
    try:
        landmarks = landmarks_if_needed(model.feature_config, landmark_path, image.shape, n_landmarks)
    except InputError as exc:  # no face, or a bad landmark file
        log.warning("%s: not segmented: %s", image_id, exc)
        return None, image.shape[:2], str(exc)
    grid = predict_proba_grid(model, image, landmarks, tile_size, threads, apply_prior=False, stride=stride,
                              progress=lambda tiles: progress(tiles, f"{image_id}: tiles"))
    return grid, image.shape[:2], None


def segment_shard(model_path, dataset: str, images: list[dict], out_store, n_landmarks: int | None = None,
                  tile_size: int = 256, threads: int = 1, stride: int = 1) -> dict:
    """Class posteriors of a shard of evaluation images with one model, loaded once, into a probability store.

    ``images``: one ``{"image_id", "image", "landmarks"}`` per image. An image
    that cannot be used is recorded as skipped, with the reason, and the
    others go on. Returns the timing.
    """
    model = _evaluation_model(model_path, dataset)
    timer = ShardTimer("segment_images")
    with probability_shard_writer(out_store, _probability_attrs(model, stride)) as add:
        for item in images:
            with timer.image():
                grid, shape, skipped = image_probabilities(model, item["image_id"], item["image"],
                                                           item.get("landmarks"), n_landmarks, tile_size, threads,
                                                           stride)
                add(item["image_id"], grid, shape, skipped)
    return timer.report()


#: Where :func:`decide_shard` puts each image's outputs inside its folder.
PREDICTION_LAYOUT = {"labels": "labels/{image}.png", "colour": "colour/{image}.png",
                     "confusion": "confusion/{image}.json"}


def decide_image(spec, model_kind: str, image_id: str, grid, stride: int, shape, decision: dict, class_weights,
                 label_path=None, image_path=None, skipped: str | None = None):
    """Labels and the confusion record of one image from its grid posteriors and the decision parameters.

    Returns ``(labels or None, record)``; the labels are all ``NOT_SEGMENTED``
    for a skipped image whose size is known, None when it is not.
    """
    record = {"image_id": image_id, "model": model_kind, "skipped": skipped, "confusion": None}
    if skipped is not None:
        return (None if shape is None else np.full(shape, NOT_SEGMENTED, np.uint8)), record
    proba = proba_from_grid(grid, stride, shape, class_weights)
    bias = bias_vector(decision["class_bias"], spec.class_names, f"models.{model_kind}.class_bias")
    smooths = decision["smooth_sigma"] > 0 or decision["guided_radius"] > 0
    image = read_image(image_path) if decision["guided_radius"] > 0 else None
    pred = labels_from_proba(proba, decision["smooth_sigma"], image, decision["guided_radius"],
                             decision["guided_eps"], bias)
    if label_path is not None:
        try:
            labels = read_labels(spec, label_path, shape)
        except InputError as exc:
            log.error("%s: not scored: %s", image_id, exc)
            record["skipped"] = str(exc)
            return pred, record
        record["confusion"] = confusion_matrix(labels, pred, spec.n_classes).tolist()
        if smooths:
            # The same probabilities without the spatial post-processing: its own row in the summary.
            record["confusion_per_pixel"] = confusion_matrix(labels, biased_argmax(proba, bias),
                                                             spec.n_classes).tolist()
    return pred, record


def _write_prediction(folder, image_id, pred, record, palette) -> None:
    paths = {kind: Path(folder) / pattern.format(image=image_id) for kind, pattern in PREDICTION_LAYOUT.items()}
    if pred is not None:
        write_png(paths["labels"], pred)
        write_png(paths["colour"], colourise(pred, palette))
    with atomic_output(paths["confusion"]) as tmp:
        Path(tmp).write_text(json.dumps(record) + "\n")


def decide_shard(proba_store, decision_file, dataset: str, images: list[dict], out_dir) -> dict:
    """Labels, colour pictures and confusion records of a shard from its stored posteriors.

    ``images``: one ``{"image_id", "image", "labels"}`` per image (labels may
    be None). The decision parameters come from ``decision_file``
    (:func:`write_decision`). Writes :data:`PREDICTION_LAYOUT` under
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
                                            item.get("image"), entry.skipped)
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
    grid, shape, skipped = image_probabilities(model, image_id, image_path, landmark_path, n_landmarks, tile_size,
                                               threads, stride)
    if skipped and shape is None:
        raise InputError(skipped)
    decision = {k: model.params.get(k, v) for k, v in DECISION_DEFAULTS.items()}
    pred, record = decide_image(spec, model.kind, image_id, grid, stride, shape, decision, model.class_weights,
                                label_path, image_path, skipped)
    write_png(out_labels, pred)
    write_png(out_colour, colourise(pred, spec.palette()))
    with atomic_output(out_confusion) as tmp:
        Path(tmp).write_text(json.dumps(record) + "\n")


def evaluate(confusion_paths, out_json, out_csv, out_md, dataset: str, info: dict | None = None,
             out_html=None) -> dict:
    """Sum per-image confusion matrices over a split and write the reports."""
    spec = get_dataset(dataset)
    total = np.zeros((spec.n_classes, spec.n_classes), dtype=np.int64)
    per_pixel = np.zeros_like(total)
    skipped, per_image, n_per_pixel = [], [], 0
    for path in confusion_paths:
        record = json.loads(Path(path).read_text())
        if record["skipped"]:
            skipped.append({"image_id": record["image_id"], "reason": record["skipped"]})
        elif record["confusion"] is not None:
            per_image.append(np.asarray(record["confusion"], dtype=np.int64))
            total += per_image[-1]
            if record.get("confusion_per_pixel") is not None:
                per_pixel += np.asarray(record["confusion_per_pixel"], dtype=np.int64)
                n_per_pixel += 1
    n_images = len(per_image)
    metrics = scores(total, spec.class_names)
    metrics = {
        **{k: metrics[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground")},
        "n_images": n_images,
        "intervals": bootstrap_intervals(per_image, spec.class_names),
        "skipped": skipped,
        "per_class": metrics["per_class"],
        "confusion_matrix": total.tolist(),
        "class_names": list(spec.class_names),
        **(info or {}),
    }
    if n_per_pixel and n_per_pixel == n_images:
        # Scores of the arg-max before spatial smoothing (the model without its post-processing).
        plain = scores(per_pixel, spec.class_names)
        metrics["per_pixel"] = {k: plain[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1", "mean_f1_foreground",
                                                      "per_class")}
    title = " / ".join(str(info[k]) for k in ("dataset", "experiment", "model") if info and k in info) or "metrics"
    write_reports(metrics, out_json, out_csv, out_md, title, out_html)
    return metrics


# -- figures for the report ----------------------------------------------------

def plot_confusion(metrics_json, out_png) -> None:
    from faceseg import plots

    metrics = json.loads(Path(metrics_json).read_text())
    title = " / ".join(str(metrics[k]) for k in ("dataset", "experiment", "model") if k in metrics)
    plots.confusion_heatmap(metrics["confusion_matrix"], metrics["class_names"], out_png,
                            f"{title}: confusion (rows sum to 1)")


def plot_iou_comparison(metrics_jsons, out_png, dataset: str) -> None:
    """Per-class IoU of every experiment and model on one figure."""
    from faceseg import plots

    runs = {}
    for path in metrics_jsons:
        m = json.loads(Path(path).read_text())
        runs[f"{m.get('experiment', '?')} / {m.get('model', '?')}"] = m
    plots.iou_bars(runs, get_dataset(dataset).class_names, out_png, f"{dataset}: per-class IoU on the evaluation split")


def rank_images_by_iou(confusion_paths, class_names) -> list[tuple[str, float]]:
    """``(image_id, mean IoU)`` of every scored image, best first (skipped images left out)."""
    ranked = []
    for path in confusion_paths:
        record = json.loads(Path(path).read_text())
        if record["confusion"] is not None:
            ranked.append((record["image_id"], scores(np.asarray(record["confusion"]), class_names)["mean_iou"]))
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def plot_overlays(confusion_paths, predicted_labels: dict, images: dict, out_dir, dataset: str, n: int,
                  title: str) -> list[str]:
    """Overlays of the ``n`` best and ``n`` worst images by mean IoU, into ``out_dir``.

    ``images`` maps an image id to ``(image_path, label_path)``, and
    ``predicted_labels`` to the predicted label PNG.
    """
    from faceseg import plots

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"report.overlays must be a positive integer, got {n!r}")
    spec = get_dataset(dataset)
    ranked = rank_images_by_iou(confusion_paths, spec.class_names)
    chosen = [("best", i, r) for i, r in enumerate(ranked[:n], 1)]
    chosen += [("worst", i, r) for i, r in enumerate(ranked[::-1][:n], 1) if r not in ranked[:n]]
    written = []
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for kind, rank, (image_id, iou) in chosen:
            image_path, label_path = images[image_id]
            image = read_image(image_path)
            truth = read_labels(spec, label_path, image.shape)
            pred = np.asarray(Image.open(predicted_labels[image_id]))
            name = f"{kind}_{rank}_{image_id.replace('/', '_')}.png"
            plots.overlay_figure(image, truth, pred, spec.class_names, spec.colours, Path(tmp) / name,
                                 f"{title}: {kind} #{rank}, image {image_id}, mean IoU {iou:.3f}")
            written.append(name)
    log.info("overlays of %d images: %s", len(written), ", ".join(written))
    return written


def plot_feature_importance(model_path, out_png) -> dict[str, float]:
    from faceseg import plots

    model = load_model(model_path)
    totals = plots.importance_by_group(model)
    counts = Counter(model.feature_groups())
    title = " / ".join(str(model.info[k]) for k in ("dataset", "experiment") if k in model.info)
    plots.importance_bars(totals, counts, out_png, f"{title} / {model.kind}: feature importance by group")
    return totals


# -- a new photo ---------------------------------------------------------------

def reframe_photo(image, landmarks, framing: dict, feature_config: dict):
    """Crop and resize a photo so that its face sits where, and at the size, it did in the training images.

    Returns ``(image, landmarks, box, zoom)``: the reframed picture, its
    landmarks, ``box = (x0, y0, x1, y1)``, the crop in photo pixels (it may
    extend past the photo's edges, which are replicated there), and the scale
    factor applied to the crop.
    """
    import cv2

    frame = face_frame_of(landmarks, feature_config)
    crop_w = max(16, int(round(framing["size"][0] * frame["scale"])))
    crop_h = max(16, int(round(framing["size"][1] * frame["scale"])))
    x0 = int(round(frame["origin"][0] - framing["origin"][0] * crop_w))
    y0 = int(round(frame["origin"][1] - framing["origin"][1] * crop_h))
    x1, y1 = x0 + crop_w, y0 + crop_h
    h, w = image.shape[:2]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))  # top, bottom, left, right
    padded = cv2.copyMakeBorder(image, *pad, cv2.BORDER_REPLICATE)
    crop = padded[y0 + pad[0]: y1 + pad[0], x0 + pad[2]: x1 + pad[2]]
    zoom = framing["scale"] / frame["scale"]
    size = (max(16, int(round(crop_w * zoom))), max(16, int(round(crop_h * zoom))))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    moved = (np.asarray(landmarks, np.float64) - (x0, y0)) * (size[0] / crop_w, size[1] / crop_h)
    return resized, moved, (x0, y0, x1, y1), zoom


def _labels_back(labels, box, shape):
    """Labels of a reframed crop, put back into the photo; outside the crop: class 0 (background)."""
    import cv2

    x0, y0, x1, y1 = box
    h, w = shape[:2]
    crop = cv2.resize(labels, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((h, w), np.uint8)
    ya, yb, xa, xb = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
    if ya < yb and xa < xb:
        out[ya:yb, xa:xb] = crop[ya - y0: yb - y0, xa - x0: xb - x0]
    return out


def segment_photo(model, photo_path, out_dir, landmark_path=None, detector=None, tile_size: int = 256,
                  threads: int = 1, reframe: bool = True) -> dict:
    """Segment one photo with a loaded model: writes ``<stem>_labels.png`` and ``<stem>_overlay.png``.

    Landmarks come from ``landmark_path`` or, when the model uses landmark
    features and none is given, from dlib (the largest face of those found).
    Raises :class:`NoFaceError` when no face is found, :class:`InputError` for
    an unreadable photo or landmark file.
    """
    from faceseg import plots

    photo_path = Path(photo_path)
    image = read_image(photo_path)
    n_points = model.n_landmarks
    result = {"photo": str(photo_path), "faces_found": None, "landmarks": None}
    landmarks = None
    if n_points is not None:
        if landmark_path is not None:
            landmarks = read_landmarks(landmark_path, image.shape, n_points=n_points)
            result["landmarks"] = str(landmark_path)
        else:
            if detector is None:
                from faceseg.landmarks import LandmarkDetector

                detector = LandmarkDetector()
            if n_points != detector.n_points:
                raise InputError(
                    f"{model.source or 'the model'} was trained with {n_points} landmarks per image, and dlib "
                    f"detects {detector.n_points}: give a landmark file with {n_points} points per photo "
                    "(--landmarks), or use a model trained with detected landmarks"
                )
            found = detector.detect(image)
            if found.points is None:
                raise NoFaceError(f"{photo_path}: {found.reason}")
            landmarks = found.points
            result.update(faces_found=found.n_faces, landmarks=f"dlib {found.detector} detector")
    framing = model.info.get("face_framing")
    result["reframed"] = None
    if reframe and framing and landmarks is not None:
        # The features have fixed pixel scales (windows, HOG cells) and image-relative
        # locations: a face far smaller or larger than in training would not be recognised.
        picture, moved, box, zoom = reframe_photo(image, landmarks, framing, model.feature_config)
        labels = _labels_back(segment_image(model, picture, moved, tile_size=tile_size, threads=threads), box,
                              image.shape)
        result["reframed"] = {"box": list(box), "zoom": round(zoom, 3)}
    else:
        labels = segment_image(model, image, landmarks, tile_size=tile_size, threads=threads)
    class_names = model.class_names
    try:
        colours = list(get_dataset(model.info.get("dataset", "")).colours)
    except ValueError:  # a dataset this version does not know: a generic palette
        colours = [tuple(int(255 * c) for c in plots.plt.get_cmap("tab20")(i)[:3]) for i in range(len(class_names))]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result["labels"] = str(out_dir / f"{photo_path.stem}_labels.png")
    result["overlay"] = str(out_dir / f"{photo_path.stem}_overlay.png")
    write_png(result["labels"], labels)
    plots.photo_overlay(image, labels, class_names, colours, result["overlay"], landmarks,
                        f"{photo_path.name}: {model.kind} model ({model.info.get('dataset', '?')}, "
                        f"{model.info.get('experiment', '?')})")
    result["pixels_per_class"] = dict(zip(class_names, np.bincount(labels.ravel(), minlength=len(class_names))
                                          .tolist()))
    return result
