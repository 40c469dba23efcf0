"""Training-time augmentation: changed copies of a training image that its sampled pixels are also drawn from.

An experiment's ``sampling.augment`` asks for ``copies`` copies of each
training image, each with a random mirror flip (``flip``: the landmarks are
renumbered as a mirrored face's, and classes named ``left_*`` / ``right_*``
swap), rotation about the face by up to ``rotate_deg`` degrees, scale change
by up to a factor ``1 + scale``, brightness gain by up to ``1 +- brightness``
and per-channel colour gains by up to ``1 +- colour``. The image's sample
budget (``samples_per_image``) is shared between the image and its copies,
so a model trains on as many rows as without augmentation. Off by default.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULTS = {"copies": 0, "flip": False, "rotate_deg": 0.0, "scale": 0.0, "brightness": 0.0, "colour": 0.0}

#: Where each of the 68 iBUG / dlib landmarks goes on the mirrored face.
MIRROR_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def validate(params) -> dict:
    """An ``augment`` entry with its defaults; errors name the key."""
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ValueError(f"sampling.augment must be a mapping, got {params!r}")
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"sampling.augment: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if isinstance(p["copies"], bool) or not isinstance(p["copies"], int) or not 0 <= p["copies"] <= 16:
        raise ValueError(f"sampling.augment.copies must be an integer from 0 to 16, got {p['copies']!r}")
    if not isinstance(p["flip"], bool):
        raise ValueError(f"sampling.augment.flip must be true or false, got {p['flip']!r}")
    for key, high in (("rotate_deg", 45), ("scale", 1), ("brightness", 0.9), ("colour", 0.9)):
        value = p[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
            raise ValueError(f"sampling.augment.{key} must be a number from 0 to {high}, got {value!r}")
        p[key] = float(value)
    return p


def mirrored_classes(class_names) -> np.ndarray:
    """Class index map of a mirror flip: ``left_x`` and ``right_x`` swap, every other class stays."""
    names = list(class_names)
    out = np.arange(len(names))
    for i, name in enumerate(names):
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a) and name.replace(a, b, 1) in names:
                out[i] = names.index(name.replace(a, b, 1))
    return out


def augmented_copy(image, labels, landmarks, params: dict, rng: np.random.Generator, class_names, n_classes: int):
    """One random copy: ``(image, labels, landmarks)``; pixels the copy brings in from outside the image are
    labelled ``n_classes`` (no class: never sampled)."""
    h, w = labels.shape
    if params["flip"] and rng.random() < 0.5:
        if landmarks is not None and len(landmarks) != 68:
            raise ValueError(f"sampling.augment.flip knows the mirror numbering of 68 landmarks, not {len(landmarks)}")
        image, labels = image[:, ::-1], mirrored_classes(class_names).astype(np.uint8)[labels[:, ::-1]]
        if landmarks is not None:
            landmarks = np.c_[w - 1 - landmarks[:, 0], landmarks[:, 1]][MIRROR_68]
    angle = rng.uniform(-params["rotate_deg"], params["rotate_deg"])
    factor = np.exp(rng.uniform(-np.log1p(params["scale"]), np.log1p(params["scale"])))
    centre = landmarks.mean(axis=0) if landmarks is not None else np.array([w / 2, h / 2])
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, factor)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
    labels = cv2.warpAffine(np.ascontiguousarray(labels), matrix, (w, h), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=n_classes)
    if landmarks is not None:
        landmarks = landmarks @ matrix[:, :2].T + matrix[:, 2]
    gains = rng.uniform(1 - params["brightness"], 1 + params["brightness"]) * rng.uniform(
        1 - params["colour"], 1 + params["colour"], size=3)
    image = np.clip(image.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)
    return image, labels, landmarks
