"""Patch colour histograms (Khan, Mauro, Leonardi, ICIP 2015).

For each pixel, the fraction of the pixels in the ``patch x patch`` window
around it that fall into each hue, saturation and value bin (marginal
histograms). Each bin is an indicator channel box-summed with an integral
image, so the cost does not depend on the patch size.
"""

from __future__ import annotations

import numpy as np

from faceseg.features._params import check_int, check_sizes, with_defaults

DEFAULTS = {"patch_sizes": [16, 32], "bins": 8}
CHANNELS = ("h", "s", "v")
#: Upper bound of each HSV channel as the context returns it.
RANGES = np.array([360.0, 1.0, 1.0], dtype=np.float32)


def validate(params: dict) -> dict:
    p = with_defaults("patch_histogram", params, DEFAULTS)
    check_sizes("patch_histogram.patch_sizes", p["patch_sizes"])
    check_int("patch_histogram.bins", p["bins"], 2, 64)
    return p


def names(params: dict, n_landmarks) -> list[str]:
    return [
        f"phist_{ch}{b}_p{size}"
        for size in params["patch_sizes"]
        for ch in CHANNELS
        for b in range(params["bins"])
    ]


def halo(params: dict) -> int:
    return max(params["patch_sizes"]) // 2 + 1


def _bin_indicators(hsv: np.ndarray, bins: int) -> np.ndarray:
    """``(3 * bins, h, w)`` planes: one-hot bin membership of each HSV channel."""
    out = np.empty((3 * bins,) + hsv.shape[:2], dtype=np.float32)
    for c in range(3):
        index = np.minimum((hsv[..., c] / RANGES[c] * bins).astype(np.int8), bins - 1)
        for b in range(bins):
            np.equal(index, b, out=out[c * bins + b], casting="unsafe")
    return out


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    bins = params["bins"]
    channels = lambda: _bin_indicators(ctx.hsv(), bins)  # noqa: E731
    width = 3 * bins
    for i, size in enumerate(params["patch_sizes"]):
        ctx.box_mean(("phist", bins), channels, size, out=out[:, i * width : (i + 1) * width])
    return out
