"""Landmark features: where the pixel lies relative to each facial landmark.

A face frame is fitted to the landmarks: its origin, orientation and scale.
For each pixel the group gives its face-frame coordinates ``lm_u, lm_v`` and,
for each landmark ``k``, the offset ``lm_dx_k, lm_dy_k`` from the landmark to
the pixel in face-frame axes divided by the face scale. Works for any number
of landmarks.

Frames:

* ``eyes``: origin between the eye centres, x axis along the inter-ocular
  line, scale the inter-ocular distance. Needs a known layout (68-point
  iBUG/dlib, 106-point LaPa).
* ``centroid``: origin the landmarks' centroid, image axes, scale the RMS
  distance of the landmarks to it. Any point count.
* ``auto``: ``eyes`` where the layout is known, else ``centroid``.
"""

from __future__ import annotations

import numpy as np

from faceseg.features._params import with_defaults

DEFAULTS = {"frame": "auto", "distances": False}
FRAMES = ("auto", "eyes", "centroid")

#: Eye-contour landmark indices (image-left eye, image-right eye) of known layouts.
EYE_INDICES = {
    68: (range(36, 42), range(42, 48)),  # iBUG 300-W / dlib
    106: (range(66, 74), range(75, 83)),  # LaPa (faceseg.landmarks.LAPA_TO_DLIB68 describes the layout)
}


def validate(params: dict) -> dict:
    p = with_defaults("landmarks", params, DEFAULTS)
    if p["frame"] not in FRAMES:
        raise ValueError(f"landmarks.frame must be one of {FRAMES}, got {p['frame']!r}")
    if not isinstance(p["distances"], bool):
        raise ValueError(f"landmarks.distances must be true or false, got {p['distances']!r}")
    return p


def names(params: dict, n_landmarks) -> list[str]:
    if not n_landmarks:
        raise ValueError("the landmarks feature group needs the number of landmarks")
    out = ["lm_u", "lm_v"]
    out += [f"lm_{axis}_{k}" for k in range(n_landmarks) for axis in ("dx", "dy")]
    if params["distances"]:
        out += [f"lm_dist_{k}" for k in range(n_landmarks)]
    return out


def halo(params: dict) -> int:
    return 0


def face_frame(points: np.ndarray, frame: str = "auto"):
    """Return ``(origin (2,), axes (2, 2) rows = unit u, v in image x, y, scale)``."""
    points = np.asarray(points, dtype=np.float64)
    if frame == "auto":
        frame = "eyes" if len(points) in EYE_INDICES else "centroid"
    if frame == "eyes":
        if len(points) not in EYE_INDICES:
            raise ValueError(
                f"landmarks.frame='eyes' needs a known layout ({sorted(EYE_INDICES)} points), got {len(points)} points"
            )
        left, right = (points[list(idx)].mean(axis=0) for idx in EYE_INDICES[len(points)])
        origin = (left + right) / 2
        scale = float(np.linalg.norm(right - left))
        u = (right - left) / max(scale, 1e-12)
        axes = np.array([u, [-u[1], u[0]]])  # v points down the face
    else:
        origin = points.mean(axis=0)
        scale = float(np.sqrt(((points - origin) ** 2).sum(axis=1).mean()))
        axes = np.eye(2)
    if not scale > 1.0:
        raise ValueError(f"degenerate landmarks: face scale {scale:.3g} px (points coincide)")
    return origin, axes, scale


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    if ctx.landmarks is None:
        raise ValueError("the landmarks feature group needs landmarks for this image")
    points = ctx.landmarks
    origin, axes, scale = face_frame(points, params["frame"])
    y, x = ctx.full_coords()
    pix = np.stack([x, y], axis=1).astype(np.float64)
    # Rotate pixels and landmarks into the face frame once, then subtract.
    pix_f = ((pix - origin) @ axes.T / scale).astype(np.float32)  # (n, 2)
    lm_f = ((points - origin) @ axes.T / scale).astype(np.float32)  # (K, 2)
    k = len(lm_f)
    out[:, :2] = pix_f
    # One (n, K) subtraction per axis, written into interleaved columns: a broadcast
    # over a trailing axis of length 2 would run numpy's inner loop 2 elements at a time.
    dx = np.subtract(pix_f[:, :1], lm_f[None, :, 0], out=out[:, 2 : 2 + 2 * k : 2])
    dy = np.subtract(pix_f[:, 1:], lm_f[None, :, 1], out=out[:, 3 : 3 + 2 * k : 2])
    if params["distances"]:
        np.sqrt(dx * dx + dy * dy, out=out[:, 2 + 2 * k :])
    return out
