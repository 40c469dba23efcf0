"""Dense per-pixel HOG: histograms of gradient orientation in a cell around each pixel.

The gradient magnitude of the grey image is split into ``orientations``
unsigned orientation channels (linear interpolation between the two nearest
bins), box-summed over a ``cell x cell`` window per cell size (integral
images, no loop over pixels) and L2-normalised per pixel. ``hog_mag_c<cell>``
keeps the unnormalised mean gradient magnitude, a texture-energy cue.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceseg.features._params import check_int, check_sizes, with_defaults

DEFAULTS = {"cell_sizes": [8, 16, 32], "orientations": 9}
#: Added to the L2 norm so flat regions do not amplify noise (grey in [0, 1]).
NORM_EPS = 0.01


def validate(params: dict) -> dict:
    p = with_defaults("hog", params, DEFAULTS)
    check_sizes("hog.cell_sizes", p["cell_sizes"])
    check_int("hog.orientations", p["orientations"], 2, 36)
    return p


def names(params: dict, n_landmarks) -> list[str]:
    out = []
    for cell in params["cell_sizes"]:
        out += [f"hog_o{o}_c{cell}" for o in range(params["orientations"])]
        out.append(f"hog_mag_c{cell}")
    return out


def halo(params: dict) -> int:
    return max(params["cell_sizes"]) // 2 + 2  # + the gradient's own support


def _orientation_channels(grey: np.ndarray, n_bins: int) -> np.ndarray:
    """``(h, w, n_bins + 1)``: magnitude split over orientation bins, then magnitude."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    mag = np.sqrt(gx * gx + gy * gy)
    angle = np.arctan2(gy, gx) % np.pi  # unsigned orientation in [0, pi)
    pos = angle * (n_bins / np.pi) - 0.5  # bin centres at (k + 0.5) * pi / n_bins
    lower = np.floor(pos)
    frac = (pos - lower).astype(np.float32)
    lower = lower.astype(np.int64) % n_bins
    upper = (lower + 1) % n_bins
    out = np.zeros(grey.shape + (n_bins + 1,), dtype=np.float32)
    rows, cols = np.indices(grey.shape)
    out[rows, cols, lower] += mag * (1 - frac)
    out[rows, cols, upper] += mag * frac
    out[..., n_bins] = mag
    return out


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    n_bins = params["orientations"]
    channels = lambda: _orientation_channels(ctx.grey(), n_bins)  # noqa: E731
    for i, cell in enumerate(params["cell_sizes"]):
        mean = ctx.box_mean(("hog", n_bins), channels, cell, out=out[:, i * (n_bins + 1) : (i + 1) * (n_bins + 1)])
        hist = mean[:, :n_bins]  # then the cell's mean magnitude, left as it is
        hist /= np.sqrt(np.einsum("ij,ij->i", hist, hist) + NORM_EPS**2)[:, None]
    return out
