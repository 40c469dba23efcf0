"""Location features: the pixel's position normalised by the image size.

A caller that knows where the image sits in a reference frame (``faceseg
segment`` maps a photo onto the training images' framing) gives the context a
``location_map``, and the features are then positions in that frame.
"""

from __future__ import annotations

import numpy as np

from faceseg.features._params import with_defaults

DEFAULTS: dict = {}


def validate(params: dict) -> dict:
    return with_defaults("location", params, DEFAULTS)


def names(params: dict, n_landmarks) -> list[str]:
    return ["loc_x", "loc_y"]


def halo(params: dict) -> int:
    return 0


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    y, x = ctx.full_coords()
    if ctx.location_map is None:
        h, w = ctx.full_shape
        out[:, 0] = (x + 0.5) / w
        out[:, 1] = (y + 0.5) / h
        return out
    m = ctx.location_map
    px, py = x + 0.5, y + 0.5
    out[:, 0] = m[0, 0] * px + m[0, 1] * py + m[0, 2]
    out[:, 1] = m[1, 0] * px + m[1, 1] * py + m[1, 2]
    return out
