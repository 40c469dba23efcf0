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
from faceseg.logutil import progress
from faceseg.metrics import bootstrap_intervals, confusion_matrix, scores, write_reports
from faceseg.models import TRAINERS, load_model
from faceseg.sampling import balanced_sample, image_rng
from faceseg.segment import (
    NOT_SEGMENTED,
    biased_argmax,
    colourise,
    model_labels,
    predict_proba_image,
    segment_image,
)
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
    atlas=None,
    split: str | None = None,
) -> None:
    """Sample class-balanced pixels of a training image and store their features.

    ``atlas``: the label atlas (a :class:`~faceseg.atlas.LabelAtlas` or its
    file) when the features include ``label_atlas``; the image itself (by
    ``split`` and ``image_id``) is left out of it.
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
    if landmarks is not None:
        attrs["face_frame"] = face_frame_of(landmarks, config)
    rng = image_rng(sampling.get("seed", 0), image_id)
    coords = balanced_sample(labels, sampling["samples_per_image"], spec.n_classes, rng)
    X = features.compute_features(image, config, coords=coords, landmarks=landmarks, atlas=atlas)
    y = labels[coords[:, 0], coords[:, 1]]
    counts = np.bincount(y, minlength=spec.n_classes)
    log.info("%s: %d samples x %d features; per class %s", image_id, len(y), X.shape[1],
             dict(zip(spec.class_names, counts.tolist())))
    write_sample_store(out_store, X, y, coords, attrs)


def _atlas_for(config, atlas):
    """The label atlas the features need (loaded when given as a path), else None."""
    if not features.needs_atlas(config):
        return None
    if atlas is None:
        raise ValueError("the feature configuration includes label_atlas but no label atlas was given")
    return atlas if hasattr(atlas, "transfer") else load_label_atlas(atlas)


def read_label_atlas(dataset: str, split: str, images, n_landmarks: int | None = None):
    """The label atlas of ``images``: ``(image_id, image_path, label_path, landmark_path)`` each.

    An image without a face (no-face landmark file) is left out, with a warning.
    """
    spec = get_dataset(dataset)

    def entries():
        for image_id, image_path, label_path, landmark_path in images:
            image = read_image(image_path)
            if label_path is None:
                raise InputError(f"{image_path}: no label image found for this atlas image")
            try:
                points = read_landmarks(landmark_path, image_shape=image.shape, n_points=n_landmarks)
            except NoFaceError as exc:
                log.warning("%s: left out of the label atlas: %s", image_id, exc)
                points = None
            yield image_id, read_labels(spec, label_path, image.shape), points

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


def merge_training_features(stores, out_store) -> None:
    attrs = merge_stores(stores, out_store)
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
    }
    atlas = _atlas_for(group.attrs["feature_config"], atlas_path)  # before training: fail fast
    model = TRAINERS[kind](group, params, threads=threads, info=info)
    model.label_atlas = atlas
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
    stride: int = 1,
    model=None,
) -> None:
    """Segment one image at full resolution and score it against its labels.

    With no face found, the label map is all ``NOT_SEGMENTED`` (255) and the
    confusion file records the skip, so the evaluation can report it.
    ``model``: the loaded model at ``model_path``, when the caller has it.
    """
    model = _evaluation_model(model_path, dataset) if model is None else model
    spec = get_dataset(dataset)
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
        proba = predict_proba_image(model, image, landmarks, tile_size, threads,
                                    progress=lambda tiles: progress(tiles, f"{image_id}: tiles"), stride=stride)
        pred = model_labels(model, proba, image)
        if labels is not None:
            record["confusion"] = confusion_matrix(labels, pred, spec.n_classes).tolist()
            if model.smooths:
                # The same probabilities without the spatial post-processing: its own row in the summary.
                record["confusion_per_pixel"] = confusion_matrix(labels, biased_argmax(proba, model.decision_bias),
                                                                     spec.n_classes).tolist()
    write_png(out_labels, pred)
    write_png(out_colour, colourise(pred, spec.palette()))
    with atomic_output(out_confusion) as tmp:
        Path(tmp).write_text(json.dumps(record) + "\n")


def _evaluation_model(model_path, dataset: str):
    model = load_model(model_path)
    spec = get_dataset(dataset)
    if model.class_names != list(spec.class_names):
        raise ValueError(
            f"{model_path}: the model's classes {model.class_names} are not those of {dataset} {list(spec.class_names)}"
        )
    return model


#: Where :func:`segment_test_images` puts each image's outputs inside its folder.
PART_LAYOUT = {"labels": "labels/{image}.png", "colour": "colour/{image}.png", "confusion": "confusion/{image}.json"}


def segment_test_images(model_path, dataset: str, images: list[dict], out_dir, n_landmarks: int | None = None,
                        tile_size: int = 256, threads: int = 1, stride: int = 1) -> None:
    """Segment a part of the evaluation split with one model, loaded once, into ``out_dir``.

    ``images``: one ``{"image_id", "image", "labels", "landmarks"}`` per image
    (label and landmark paths may be None). Writes :data:`PART_LAYOUT` under
    ``out_dir``, which must not exist: the folder is built aside and renamed
    when every image succeeded. Each image is tried; if any fails, one error
    names every failed file and nothing is left behind.
    """
    model = _evaluation_model(model_path, dataset)
    failures = []
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for item in images:
            paths = {kind: Path(tmp) / pattern.format(image=item["image_id"]) for kind, pattern in PART_LAYOUT.items()}
            try:
                segment_test_image(model_path, dataset, item["image_id"], item["image"], item.get("labels"),
                                   paths["labels"], paths["colour"], paths["confusion"], item.get("landmarks"),
                                   n_landmarks, tile_size, threads, stride, model=model)
            except InputError as exc:  # a bad file: try the other images, then fail naming each
                log.error("%s", exc)
                failures.append(str(exc))
        if failures:
            raise InputError(f"{len(failures)} of {len(images)} images failed: " + "; ".join(failures))


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
