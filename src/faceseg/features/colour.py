"""Colour features: per-pixel RGB, HSV, Lab and grey values, optionally local means."""

from __future__ import annotations

import numpy as np

from faceseg.features._context import planes_of
from faceseg.features._params import check_choices, check_sizes, with_defaults

SPACES = {
    # space: (channel names, function of the context returning (h, w, C) scaled to about [0, 1])
    "rgb": (("r", "g", "b"), lambda ctx: ctx.rgb()),
    "hsv": (("h", "s", "v"), lambda ctx: ctx.hsv() * np.array([1 / 360, 1, 1], np.float32)),
    "lab": (("l", "a", "b"), lambda ctx: ctx.lab() * np.array([1 / 100, 1 / 127, 1 / 127], np.float32)),
    "grey": (("",), lambda ctx: ctx.grey()[..., None]),
}

DEFAULTS = {"spaces": ["rgb", "hsv", "lab", "grey"], "mean_sizes": []}


def validate(params: dict) -> dict:
    p = with_defaults("colour", params, DEFAULTS)
    check_choices("colour.spaces", p["spaces"], SPACES)
    check_sizes("colour.mean_sizes", p["mean_sizes"], allow_empty=True)
    return p


def _channel_names(space: str) -> list[str]:
    return [space if not c else f"{space}_{c}" for c in SPACES[space][0]]


def names(params: dict, n_landmarks) -> list[str]:
    out = []
    for space in params["spaces"]:
        out += _channel_names(space)
    for size in params["mean_sizes"]:
        for space in params["spaces"]:
            out += [f"{name}_mean{size}" for name in _channel_names(space)]
    return out


def halo(params: dict) -> int:
    # A window of side k reaches k // 2 pixels from its centre.
    return max((size // 2 + 1 for size in params["mean_sizes"]), default=0)


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    def image(space):
        return ctx.cached(("colour", space), lambda: SPACES[space][1](ctx))

    col = 0
    for space in params["spaces"]:
        k = len(SPACES[space][0])
        out[:, col : col + k] = ctx.at(image(space))
        col += k
    for size in params["mean_sizes"]:
        for space in params["spaces"]:
            k = len(SPACES[space][0])
            ctx.box_mean(("colour", space), lambda s=space: planes_of(image(s)), size, out=out[:, col : col + k])
            col += k
    return out
