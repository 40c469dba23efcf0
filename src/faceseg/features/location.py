"""Location features: the pixel's position normalised by the image size."""

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
    h, w = ctx.full_shape
    out[:, 0] = (x + 0.5) / w
    out[:, 1] = (y + 0.5) / h
    return out
