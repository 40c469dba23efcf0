"""Where the face sits in an image, and the training images' typical framing (from the landmarks)."""

from __future__ import annotations

import numpy as np


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
    in face scales. A new photo's faces are mapped onto it (:func:`to_training_frame`).
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


def frame_size(framing: dict) -> tuple[float, float]:
    """Width and height, in pixels, of the typical training image of a framing (:func:`face_framing`)."""
    return framing["size"][0] * framing["scale"], framing["size"][1] * framing["scale"]


def to_training_frame(landmarks, framing: dict, feature_config, level_eyes: bool = True) -> np.ndarray:
    """The similarity transform that puts a face where, and at the size, it is in the typical training image.

    A ``(2, 3)`` matrix mapping photo pixels ``(x, y)`` to pixels of the
    training framing (:func:`frame_size`): the face's origin goes to the
    framing's origin, its scale to the framing's scale and, with
    ``level_eyes``, its eye line (the ``eyes`` face frame's axis) to the
    horizontal.
    """
    from faceseg.features.landmarks import face_frame

    frame = feature_config.get("landmarks", {}).get("frame", "auto")
    origin, axes, scale = face_frame(landmarks, frame)
    width, height = frame_size(framing)
    target = np.array([framing["origin"][0] * width, framing["origin"][1] * height])
    linear = (axes if level_eyes else np.eye(2)) * (framing["scale"] / scale)
    return np.hstack([linear, (target - linear @ origin)[:, None]])
