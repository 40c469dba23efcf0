"""Landmark part features: where the pixel lies relative to each facial part.

Each part (an eye, a brow, the nose, the nostrils, the mouth, the jaw line) is
summarised by the ellipse of its landmarks: their centroid and covariance,
widened by ``(margin * face scale)^2`` so that a part whose points are nearly
collinear (the nose bridge) still has a width. For each pixel and part the
group gives its coordinates in the ellipse's principal axes, each divided by
the ellipse's standard deviation along that axis (``part_<name>_u``,
``part_<name>_v``), and their squared length (``part_<name>_d2``, the squared
Mahalanobis distance: below about 4 inside the part's blob, growing outside).

Labelled face parts are blobs around their landmarks, so a single threshold on
``d2`` already separates much of a part from its surroundings, which a forest
would otherwise have to carve out of dozens of per-landmark offsets.

The parts need a known landmark layout (:data:`PARTS`): 68-point iBUG/dlib
(what detection gives) and 106-point LaPa. "left" and "right" are as seen in
the image.
"""

from __future__ import annotations

import numpy as np

from faceseg.features._params import with_defaults
from faceseg.features.landmarks import face_frame


def _r(a, b):
    return list(range(a, b))


#: Landmark indices of each part, per layout (point count).
PARTS = {
    68: {  # iBUG 300-W / dlib
        "jaw": _r(0, 17),
        "brow_left": _r(17, 22),
        "brow_right": _r(22, 27),
        "nose": _r(27, 36),
        "nostrils": _r(30, 36),
        "eye_left": _r(36, 42),
        "eye_right": _r(42, 48),
        "mouth": _r(48, 68),
    },
    106: {  # LaPa (the layout of its annotation files; faceseg.landmarks.LAPA_TO_DLIB68 describes it)
        "jaw": _r(0, 33),
        "brow_left": _r(33, 42),
        "brow_right": _r(42, 51),
        "nose": _r(51, 66),
        "nostrils": [54] + _r(57, 64),  # the tip and the lower edge, as dlib's 30-35
        "eye_left": _r(66, 75) + [104],
        "eye_right": _r(75, 84) + [105],
        "mouth": _r(84, 104),
    },
}
PART_NAMES = tuple(PARTS[68])

DEFAULTS = {"margin": 0.1}


def validate(params: dict) -> dict:
    p = with_defaults("landmark_parts", params, DEFAULTS)
    margin = p["margin"]
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        raise ValueError(f"landmark_parts.margin must be a number in (0, 1], got {margin!r}")
    return p


def _layout(n_landmarks) -> dict:
    if n_landmarks not in PARTS:
        raise ValueError(
            f"the landmark_parts feature group needs a known landmark layout ({sorted(PARTS)} points), "
            f"got {n_landmarks!r} points"
        )
    return PARTS[n_landmarks]


def names(params: dict, n_landmarks) -> list[str]:
    _layout(n_landmarks)
    return [f"part_{part}_{kind}" for part in PART_NAMES for kind in ("u", "v", "d2")]


def halo(params: dict) -> int:
    return 0


def part_ellipses(points: np.ndarray, margin: float):
    """``{part: (centre (2,), whitening (2, 2))}``; whitening maps an offset to ellipse units."""
    points = np.asarray(points, dtype=np.float64)
    _, _, scale = face_frame(points)
    out = {}
    for part, idx in _layout(len(points)).items():
        pts = points[idx]
        centre = pts.mean(axis=0)
        cov = np.cov(pts, rowvar=False, bias=True) + (margin * scale) ** 2 * np.eye(2)
        values, vectors = np.linalg.eigh(cov)  # ascending
        major = vectors[:, 1] * (1 if vectors[0, 1] >= 0 else -1)  # points right: a stable sign
        minor = np.array([-major[1], major[0]])  # major turned 90 degrees: points down the face
        whitening = np.stack([major / np.sqrt(values[1]), minor / np.sqrt(values[0])])
        out[part] = (centre, whitening)
    return out


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    if ctx.landmarks is None:
        raise ValueError("the landmark_parts feature group needs landmarks for this image")
    if ctx.rect is not None:
        # A dense tile or grid: a column of y values and a row of x values, broadcast
        # into each output plane (one pass per channel instead of a gather per pixel).
        y0, y1, x0, x1, step = ctx.rect
        y = (np.arange(y0, y1, step) + ctx.origin[0]).astype(np.float32)[:, None]
        x = (np.arange(x0, x1, step) + ctx.origin[1]).astype(np.float32)[None, :]
        shape = (y.shape[0], x.shape[1])
    else:
        y, x = (c.astype(np.float32) for c in ctx.full_coords())
        shape = (ctx.n,)
    for i, (centre, whitening) in enumerate(part_ellipses(ctx.landmarks, params["margin"]).values()):
        u, v, d2 = (_plane(out[:, 3 * i + j], shape) for j in range(3))
        # u = w00 (x - cx) + w01 (y - cy), evaluated as (w01 y + c) + w00 x in float32:
        # the same operations for every pixel, so tiles equal the whole image exactly.
        for row, plane in ((whitening[0], u), (whitening[1], v)):
            offset = np.float32(-(row @ centre))
            np.add(np.float32(row[1]) * y + offset, np.float32(row[0]) * x, out=plane)
        np.multiply(u, u, out=d2)
        d2 += v * v
    return out


def _plane(column: np.ndarray, shape) -> np.ndarray:
    """An output column seen as ``shape`` (rows, cols), without a copy."""
    view = column.view()
    view.shape = shape  # raises rather than silently copying
    return view
