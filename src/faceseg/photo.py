"""Segmenting a new photo with a trained model (``faceseg segment``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceseg.datasets import get_dataset
from faceseg.framing import face_frame_of
from faceseg.io import InputError, NoFaceError, read_image, read_landmarks, write_png
from faceseg.segment import segment_image


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
