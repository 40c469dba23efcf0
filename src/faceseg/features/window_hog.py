"""Spatial HOG of the window around each pixel: the patch descriptor of Khan, Mauro, Leonardi (ICME 2017).

Each pixel is described by the HOG of the ``window x window`` square centred
on it (rows ``y - window/2 .. y + window/2 - 1``), in the layout of
``skimage.feature.hog(window, orientations, (cell, cell), (block, block),
block_norm="L2-Hys")``: per ``cell x cell`` cell the mean gradient magnitude
per unsigned orientation bin (hard binning), each ``block x block`` group of
cells at every block position normalised L2-Hys, values ordered (block row,
block column, cell row, cell column, orientation). With the defaults (64 px,
8 px cells, 2 x 2-cell blocks, 9 bins) that is 7 x 7 blocks of 36: 1,764
values, the HOG part of the paper's 1,862-value descriptor (the rest is
``patch_histogram`` with 32 bins of a 16 px patch, and ``location``).

Every cell histogram of every window is read from one dense map per bin: the
orientation planes averaged over each ``cell x cell`` square (a box filter),
so a pixel costs a gather and its block norms, not a HOG of its own window.
The gradient is the image's ([-1, 0, 1] differences of the grey image);
skimage's, computed on the window alone, is zero on the window's outer rows
and columns, so the two agree exactly on blocks that do not touch the window
border and closely on the others.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceseg.features._params import check_int, with_defaults

DEFAULTS = {"window": 64, "cell": 8, "block": 2, "orientations": 9}
#: skimage.feature.hog's block normalisation: L2, clipped at 0.2, L2 again, with this epsilon.
EPS = 1e-5
CLIP = 0.2


def validate(params: dict) -> dict:
    p = with_defaults("window_hog", params, DEFAULTS)
    check_int("window_hog.cell", p["cell"], 2, 64)
    check_int("window_hog.window", p["window"], p["cell"], 256)
    check_int("window_hog.orientations", p["orientations"], 2, 36)
    if p["window"] % p["cell"]:
        raise ValueError(f"window_hog.window ({p['window']}) must be a multiple of window_hog.cell ({p['cell']})")
    check_int("window_hog.block", p["block"], 1, p["window"] // p["cell"])
    return p


def layout(params: dict) -> tuple[int, int]:
    """``(cells per window side, block positions per side)``."""
    n_cells = params["window"] // params["cell"]
    return n_cells, n_cells - params["block"] + 1


def names(params: dict, n_landmarks) -> list[str]:
    _, n_blocks = layout(params)
    b, o = params["block"], params["orientations"]
    return [f"whog_b{br}_{bc}_c{cr}{cc}_o{k}" for br in range(n_blocks) for bc in range(n_blocks)
            for cr in range(b) for cc in range(b) for k in range(o)]


def halo(params: dict) -> int:
    return params["window"] // 2 + 1  # + the gradient's own support


def orientation_planes(grey: np.ndarray, orientations: int) -> np.ndarray:
    """``(orientations, h, w)``: each pixel's gradient magnitude in its unsigned orientation bin, as skimage bins.

    Orientation ``atan2(gy, gx)`` in degrees modulo 180, bin ``k`` holding
    ``[k, k + 1) * 180 / orientations``; computed in float64 as skimage does,
    so a pixel on a bin edge falls in the same bin.
    """
    grey = np.asarray(grey, np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1).astype(np.float64)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1).astype(np.float64)
    magnitude = np.hypot(gx, gy)
    orientation = np.rad2deg(np.arctan2(gy, gx)) % 180
    width = 180.0 / orientations
    index = np.minimum((orientation // width).astype(np.int16), orientations - 1)
    # skimage's bounds are width * k; floor division can land one bin off at an edge.
    index[orientation < width * index] -= 1
    index[orientation >= width * (index + 1)] += 1
    planes = np.zeros((orientations,) + grey.shape, np.float32)
    for k in range(orientations):
        np.copyto(planes[k], magnitude, where=index == k)
    return planes


def cell_maps(planes: np.ndarray, cell: int, pad: int) -> np.ndarray:
    """``(orientations, h + 2 pad, w + 2 pad)``: the mean of each plane over the cell whose top-left pixel is there.

    Indexed from ``-pad``: entry ``[k, y + pad, x + pad]`` is the cell of rows
    ``y .. y + cell - 1``; pixels beyond the crop count as zero and the mean
    is over ``cell**2`` pixels (as skimage's cells at an image border).
    """
    o, h, w = planes.shape
    out = np.empty((o, h + 2 * pad, w + 2 * pad), np.float32)
    for k in range(o):
        padded = cv2.copyMakeBorder(planes[k], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        out[k] = cv2.boxFilter(padded, cv2.CV_32F, (cell, cell), anchor=(0, 0), normalize=True,
                               borderType=cv2.BORDER_CONSTANT)
    return out


def block_normalised(cells: np.ndarray, block: int) -> np.ndarray:
    """``(n, blocks, blocks, block, block, orientations)`` L2-Hys blocks of ``(n, cells, cells, orientations)``."""
    n, n_cells, _, o = cells.shape
    n_blocks = n_cells - block + 1
    out = np.empty((n, n_blocks, n_blocks, block, block, o), np.float32)
    for br in range(n_blocks):
        for bc in range(n_blocks):
            out[:, br, bc] = cells[:, br : br + block, bc : bc + block]
    flat = out.reshape(n, n_blocks, n_blocks, -1)
    flat /= np.sqrt((flat * flat).sum(axis=-1, keepdims=True) + EPS**2)
    np.minimum(flat, CLIP, out=flat)
    flat /= np.sqrt((flat * flat).sum(axis=-1, keepdims=True) + EPS**2)
    return out


#: Query pixels per gather: the cells of a chunk are ``chunk x cells**2 x orientations`` floats.
CHUNK = 4096


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    window, cell, block, o = params["window"], params["cell"], params["block"], params["orientations"]
    n_cells, _ = layout(params)
    pad = window // 2 + cell
    maps = ctx.cached(("window_hog", o, cell, pad),
                      lambda: cell_maps(orientation_planes(ctx.grey(), o), cell, pad))
    offsets = np.arange(n_cells) * cell - window // 2 + pad  # cell top-left rows/cols, relative to the pixel
    for start in range(0, ctx.n, CHUNK):
        ys, xs = ctx.ys[start : start + CHUNK], ctx.xs[start : start + CHUNK]
        rows = ys[:, None] + offsets[None, :]  # (n, cells)
        cols = xs[:, None] + offsets[None, :]
        # (n, cells, cells, orientations): cell (i, j) of each pixel's window.
        cells = maps[:, rows[:, :, None], cols[:, None, :]].transpose(1, 2, 3, 0)
        out[start : start + len(ys)] = block_normalised(cells, block).reshape(len(ys), -1)
    return out
