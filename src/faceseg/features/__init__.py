"""Per-pixel features, channels last, one stable readable name per channel.

A feature configuration maps group names to their parameters, for example::

    {"colour": {"spaces": ["rgb", "lab"]}, "location": {}, "hog": {"cell_sizes": [8, 16]}}

Groups are always computed in registry order (:data:`GROUPS`), whatever the
order of the configuration, so a configuration has one feature layout.

Shape contract: :func:`compute_features` on an ``(H, W, 3)`` image returns
``(H, W, n_features)`` float32, or ``(N, n_features)`` for ``N`` requested
pixels; ``feature_names(config, n_landmarks)`` names the last axis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from faceseg.features import (
    colour,
    face_colour,
    hog,
    label_atlas,
    landmark_parts,
    landmarks,
    location,
    patch_histogram,
    window_hog,
)
from faceseg.features._context import PixelContext


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    module: ModuleType
    needs_landmarks: bool = False
    needs_atlas: bool = False


#: The registry: every feature group, in the order its channels are laid out.
GROUPS = {
    g.name: g
    for g in (
        FeatureGroup("colour", colour),
        FeatureGroup("location", location),
        FeatureGroup("hog", hog),
        FeatureGroup("window_hog", window_hog),
        FeatureGroup("patch_histogram", patch_histogram),
        FeatureGroup("landmarks", landmarks, needs_landmarks=True),
        FeatureGroup("landmark_parts", landmark_parts, needs_landmarks=True),
        FeatureGroup("face_colour", face_colour, needs_landmarks=True),
        FeatureGroup("label_atlas", label_atlas, needs_landmarks=True, needs_atlas=True),
    )
}


def resolve_config(config: dict) -> dict:
    """Validate a feature configuration and fill in defaults; returns it in registry order."""
    if not isinstance(config, dict) or not config:
        raise ValueError(f"a feature configuration must name at least one group of {list(GROUPS)}, got {config!r}")
    unknown = set(config) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown feature group(s) {sorted(unknown)}; known groups: {list(GROUPS)}")
    return {name: GROUPS[name].module.validate(config[name] or {}) for name in GROUPS if name in config}


def needs_landmarks(config: dict) -> bool:
    return any(GROUPS[name].needs_landmarks for name in config)


def needs_atlas(config: dict) -> bool:
    """Whether the configuration has a group that reads a label atlas (:mod:`faceseg.atlas`)."""
    return any(GROUPS[name].needs_atlas for name in config)


def feature_names(config: dict, n_landmarks: int | None = None) -> list[str]:
    """Names of the channels :func:`compute_features` returns for ``config``."""
    config = resolve_config(config)
    names = []
    for name, params in config.items():
        names += GROUPS[name].module.names(params, n_landmarks)
    return names


def feature_groups(config: dict, n_landmarks: int | None = None) -> list[str]:
    """The feature group of each channel, aligned with :func:`feature_names`."""
    config = resolve_config(config)
    groups = []
    for name, params in config.items():
        groups += [name] * len(GROUPS[name].module.names(params, n_landmarks))
    return groups


def feature_halo(config: dict) -> int:
    """Pixels of context a tile needs around it for exact window features."""
    config = resolve_config(config)
    return max((GROUPS[name].module.halo(params) for name, params in config.items()), default=0)


def config_digest(config: dict) -> str:
    """Short stable digest of a resolved feature configuration."""
    text = json.dumps(resolve_config(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _compute(ctx: PixelContext, config: dict) -> np.ndarray:
    # Each group's compute(ctx, params, out) fills its own column slice of one
    # matrix, so a pixel's features are written once.
    n_landmarks = None if ctx.landmarks is None else len(ctx.landmarks)
    widths = [len(GROUPS[name].module.names(params, n_landmarks)) for name, params in config.items()]
    out = np.empty((sum(widths), ctx.n), np.float32).T
    col = 0
    for (name, params), width in zip(config.items(), widths):
        GROUPS[name].module.compute(ctx, params, out=out[:, col : col + width])
        col += width
    return out


def _check_inputs(config, landmarks, atlas):
    if needs_landmarks(config) and landmarks is None:
        raise ValueError("this feature configuration includes 'landmarks' but no landmarks were given")
    if needs_atlas(config) and atlas is None:
        raise ValueError("this feature configuration includes 'label_atlas' but no label atlas was given")


#: The sampled-pixel path works on bands of rows of about this many pixels, so
#: its memory does not grow with the image (a 4 MP photo: ~8 bands).
BAND_PIXELS = 500_000


def compute_features(image: np.ndarray, config: dict, coords=None, landmarks=None,
                     band_pixels: int = BAND_PIXELS, atlas=None, location_map=None) -> np.ndarray:
    """Compute per-pixel features of an RGB uint8 image.

    Parameters
    ----------
    image : (H, W, 3) uint8 array
    config : feature configuration (see the module docstring)
    coords : optional (N, 2) integer array of ``(row, col)`` pixels. When given,
        only those pixels are described (the training path); integral images
        make this cheaper than a dense pass.
    landmarks : optional (K, 2) array of ``(x, y)`` landmarks, required by the
        ``landmarks`` group.
    band_pixels : with ``coords``, images larger than this are processed in
        bands of rows (plus the halo the window features need), which bounds
        memory and gives the same values as one pass.
    location_map : see :func:`compute_features_tile`.
    atlas : optional :class:`~faceseg.atlas.LabelAtlas`, required by the
        ``label_atlas`` group (without the image itself when it is an atlas image).

    Returns
    -------
    ``(H, W, n_features)`` float32, or ``(N, n_features)`` when ``coords`` is given.
    """
    config = resolve_config(config)
    _check_inputs(config, landmarks, atlas)
    image = _check_image(image)
    if coords is None:
        return compute_features_tile(image, config, (0, image.shape[0]), (0, image.shape[1]), landmarks,
                                     atlas=atlas, location_map=location_map)
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be an (N, 2) array of (row, col), got shape {coords.shape}")
    h, w = image.shape[:2]
    if coords.size and (coords.min() < 0 or coords[:, 0].max() >= h or coords[:, 1].max() >= w):
        raise ValueError(f"coords fall outside the {w}x{h} image")
    if len(coords) == 0:
        n_landmarks = None if landmarks is None else len(landmarks)
        return np.zeros((0, len(feature_names(config, n_landmarks))), np.float32)
    if h * w <= band_pixels:
        ctx = PixelContext(image, coords[:, 0], coords[:, 1], landmarks=landmarks, atlas=atlas,
                           location_map=location_map)
        return _compute(ctx, config)
    return _compute_in_bands(image, config, coords, landmarks, max(16, band_pixels // w), atlas, location_map)


def _compute_in_bands(image, config, coords, landmarks, band_rows: int, atlas=None, location_map=None) -> np.ndarray:
    h, w = image.shape[:2]
    pad = feature_halo(config)
    out = None
    for r0 in range(0, h, band_rows):
        r1 = min(r0 + band_rows, h)
        inside = np.flatnonzero((coords[:, 0] >= r0) & (coords[:, 0] < r1))
        if inside.size == 0:
            continue
        y0, y1 = max(r0 - pad, 0), min(r1 + pad, h)
        ctx = PixelContext(image[y0:y1], coords[inside, 0] - y0, coords[inside, 1], (y0, 0), (h, w), landmarks,
                           full_image=image, atlas=atlas, location_map=location_map)
        values = _compute(ctx, config)
        if out is None:
            out = np.empty((len(coords), values.shape[1]), np.float32)
        out[inside] = values
    return out


def compute_features_tile(image, config, rows, cols, landmarks=None, stride: int = 1, atlas=None,
                          location_map=None) -> np.ndarray:
    """Features of the pixels ``rows[0]:rows[1]:stride, cols[0]:cols[1]:stride``.

    Returns ``(ceil(h / stride), ceil(w / stride), n_features)`` for a tile of
    ``h x w`` pixels (``stride`` 1: every pixel). Only the tile plus a halo of
    :func:`feature_halo` pixels is processed, and the result equals the same
    pixels of a whole-image computation. ``location_map``: a 2x3 affine map from
    image pixel centres ``(x, y)`` to the location features (None: ``(x / W, y / H)``).
    """
    config = resolve_config(config)
    _check_inputs(config, landmarks, atlas)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    h, w = image.shape[:2]
    (r0, r1), (c0, c1) = rows, cols
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise ValueError(f"tile rows {rows} cols {cols} outside the {w}x{h} image")
    pad = feature_halo(config)
    y0, y1, x0, x1 = max(r0 - pad, 0), min(r1 + pad, h), max(c0 - pad, 0), min(c1 + pad, w)
    ys, xs = np.mgrid[r0 - y0 : r1 - y0 : stride, c0 - x0 : c1 - x0 : stride]
    rect = (r0 - y0, r1 - y0, c0 - x0, c1 - x0, stride)
    ctx = PixelContext(image[y0:y1, x0:x1], ys.ravel(), xs.ravel(), (y0, x0), (h, w), landmarks, rect=rect,
                       full_image=image, atlas=atlas, location_map=location_map)
    return _compute(ctx, config).reshape(ys.shape[0], ys.shape[1], -1)


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {image.shape} {image.dtype}")
    return image


__all__ = [
    "GROUPS",
    "compute_features",
    "compute_features_tile",
    "config_digest",
    "feature_groups",
    "feature_halo",
    "feature_names",
    "needs_atlas",
    "needs_landmarks",
    "resolve_config",
]
