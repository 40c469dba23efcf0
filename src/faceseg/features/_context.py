"""Shared state of one feature computation: the pixels asked for and cached intermediates."""

from __future__ import annotations

import cv2
import numpy as np


class PixelContext:
    """The pixels to describe in one image crop, and intermediate results shared by groups.

    ``image`` is an RGB uint8 crop of the full image, ``origin`` its top-left
    corner in the full image and ``full_shape`` the full image's ``(H, W)``.
    ``ys, xs`` are the query pixels in crop coordinates. Window features
    (HOG, patch histograms) are box sums over integral images of the crop,
    clipped at the crop border; a tiled caller adds a halo so that the clip
    falls on the real image border only, which makes tiles equal the whole image.
    """

    def __init__(self, image, ys, xs, origin=(0, 0), full_shape=None, landmarks=None, rect=None, full_image=None,
                 atlas=None, location_map=None):
        self.image = np.ascontiguousarray(image)
        self.ys = np.asarray(ys, dtype=np.intp)
        self.xs = np.asarray(xs, dtype=np.intp)
        self.origin = (int(origin[0]), int(origin[1]))
        self.full_shape = tuple(full_shape) if full_shape is not None else self.image.shape[:2]
        self.landmarks = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
        # ``(y0, y1, x0, x1, step)`` when the query pixels are exactly every
        # ``step``-th row and column of that rectangle of the crop, in row-major
        # order (a dense tile, or its grid): window means then come from OpenCV
        # box filters over the crop instead of integral-image lookups.
        self.rect = rect
        # The whole image, for groups with image-level statistics (None: the crop is the whole image).
        self._full_image = full_image
        # The label atlas of the label_atlas group (faceseg.atlas.LabelAtlas), or None.
        self.atlas = atlas
        # A 2x3 affine map from full-image pixel centres (x, y) to the location
        # features, or None: the position normalised by the full image's size.
        self.location_map = None if location_map is None else np.asarray(location_map, dtype=np.float64)
        self._cache: dict = {}

    @property
    def full_image(self) -> np.ndarray:
        """The whole RGB image the crop was cut from."""
        return self.image if self._full_image is None else self._full_image

    @property
    def n(self) -> int:
        return self.ys.shape[0]

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # Whole-crop images, computed once and shared by every group that needs them.
    def rgb(self) -> np.ndarray:
        return self.cached("rgb", lambda: self.image.astype(np.float32) / 255.0)

    def hsv(self) -> np.ndarray:
        """HSV with hue in degrees [0, 360), saturation and value in [0, 1]."""
        return self.cached("hsv", lambda: cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2HSV))

    def lab(self) -> np.ndarray:
        """CIE Lab with L in [0, 100], a and b roughly in [-127, 127]."""
        return self.cached("lab", lambda: cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2Lab))

    def grey(self) -> np.ndarray:
        return self.cached("grey", lambda: cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2GRAY))

    def at(self, array: np.ndarray) -> np.ndarray:
        """Values of a ``(h, w[, C])`` crop-sized array at the query pixels: ``(n, C)``."""
        if self.rect is not None:  # a slice, not a gather
            y0, y1, x0, x1, step = self.rect
            return array[y0:y1:step, x0:x1:step].reshape(self.n, -1)
        values = array[self.ys, self.xs]
        return values.reshape(self.n, -1)

    def integral(self, key, planes) -> np.ndarray:
        """Cached ``(C, h+1, w+1)`` float64 integral images of ``planes()``."""

        def build():
            arr = planes()
            if arr.ndim == 2:
                arr = arr[None]
            c, h, w = arr.shape
            out = np.zeros((c, h + 1, w + 1), dtype=np.float64)
            np.cumsum(arr, axis=1, dtype=np.float64, out=out[:, 1:, 1:])
            np.cumsum(out[:, 1:, 1:], axis=2, out=out[:, 1:, 1:])
            return out

        return self.cached(("integral", key), build)

    def box_mean(self, key, planes, size: int, out: np.ndarray) -> np.ndarray:
        """Mean of each of ``planes()`` over the ``size x size`` window centred on each query pixel.

        ``planes()`` returns the channels planar, ``(C, h, w)`` (or ``(h, w)``),
        so each channel is filtered and written as one contiguous plane. The
        window is clipped to the crop and the mean is over the pixels inside.
        Written into ``out``, an ``(n, C)`` float32 array (or column slice), and returned.
        The result is remembered: a second group asking for the same ``key`` and
        ``size`` gets a copy, so ``out`` must not be changed afterwards.
        """
        done = self._cache.get(("box_mean", key, size))
        if done is not None:
            out[...] = done
            return out
        self._cache[("box_mean", key, size)] = self._box_mean(key, planes, size, out)
        return out

    def _box_mean(self, key, planes, size: int, out: np.ndarray) -> np.ndarray:
        if self.rect is not None:
            return self._dense_box_mean(key, planes, size, out)
        table = self.integral(key, planes)
        h, w = table.shape[1] - 1, table.shape[2] - 1
        lo = size // 2
        y1 = np.clip(self.ys - lo, 0, h)
        y2 = np.clip(self.ys - lo + size, 0, h)
        x1 = np.clip(self.xs - lo, 0, w)
        x2 = np.clip(self.xs - lo + size, 0, w)
        area = ((y2 - y1) * (x2 - x1)).astype(np.float64)
        for c in range(table.shape[0]):
            t = table[c]
            out[:, c] = (t[y2, x2] - t[y1, x2] - t[y2, x1] + t[y1, x1]) / area
        return out

    def _dense_box_mean(self, key, planes, size: int, out: np.ndarray) -> np.ndarray:
        # Same windows as the integral path: rows y - size//2 .. y - size//2 + size - 1
        # (OpenCV's default anchor), zeros outside the crop, divided by the
        # number of pixels inside. Sums in float32 (half the memory traffic of
        # float64; they differ from the integral path's float64 sums by ~1e-7).
        if self.rect[4] > 1:
            grid = self._grid_box_mean(key, planes, size, out)
            if grid is not None:
                return grid
        arr = self.cached(("dense", key), lambda: _planar(planes()))
        h, w = arr.shape[1:]
        counts = self.cached(("box_counts", size), lambda: cv2.boxFilter(
            np.ones((h, w), np.float32), cv2.CV_32F, (size, size), normalize=False,
            borderType=cv2.BORDER_CONSTANT))
        y0, y1, x0, x1, step = self.rect
        counts = counts[y0:y1:step, x0:x1:step]
        for c in range(arr.shape[0]):
            sums = cv2.boxFilter(arr[c], cv2.CV_32F, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
            # Divide straight into the caller's column, seen as (rows, cols).
            column = out[:, c].view()
            column.shape = counts.shape  # raises rather than silently copying
            np.divide(sums[y0:y1:step, x0:x1:step], counts, out=column)
        return out

    def _grid_box_mean(self, key, planes, size: int, out: np.ndarray):
        """Window means on a strided grid from sums over ``step x step`` blocks.

        When ``size`` is a multiple of the grid step, every window is a whole
        number of blocks once the blocks are aligned with the windows' corners,
        so the crop is summed into blocks once (shared by every window size
        with the same alignment) and the box filter runs on a grid ``step**2``
        times smaller. Returns None where the windows do not fall on the block
        grid (the caller then filters at full resolution).
        """
        y0, y1, x0, x1, step = self.rect
        if size % step:
            return None
        lo, m = size // 2, size // step
        top, left = (lo - y0) % step, (lo - x0) % step  # window corners fall on block corners
        blocks = self.cached(("blocks", key, step, top, left), lambda: _block_sums(
            self.cached(("dense", key), lambda: _planar(planes())), step, top, left))
        hb, wb = blocks.shape[1:]
        # With OpenCV's default anchor (m // 2), the block holding a query pixel's
        # window corner plus m // 2 is where its window sum lands.
        i0, j0 = (y0 - lo + top) // step + m // 2, (x0 - lo + left) // step + m // 2
        gh, gw = len(range(y0, y1, step)), len(range(x0, x1, step))
        if i0 < 0 or j0 < 0 or i0 + gh > hb or j0 + gw > wb:
            return None
        h, w = self.image.shape[:2]
        counts = self.cached(("grid_counts", size), lambda: np.outer(
            _inside(np.arange(y0, y1, step) - lo, size, h), _inside(np.arange(x0, x1, step) - lo, size, w)
        ).astype(np.float32))
        for c in range(blocks.shape[0]):
            sums = cv2.boxFilter(blocks[c], cv2.CV_32F, (m, m), normalize=False, borderType=cv2.BORDER_CONSTANT)
            column = out[:, c].view()
            column.shape = counts.shape  # raises rather than silently copying
            np.divide(sums[i0 : i0 + gh, j0 : j0 + gw], counts, out=column)
        return out

    def full_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Query pixels in full-image coordinates ``(y, x)``."""
        return self.ys + self.origin[0], self.xs + self.origin[1]


def _planar(arr: np.ndarray) -> np.ndarray:
    """``(C, h, w)`` contiguous float32 from ``(h, w)`` or ``(C, h, w)``."""
    arr = np.asarray(arr, dtype=np.float32)
    return np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr)


def _inside(starts: np.ndarray, size: int, n: int) -> np.ndarray:
    """Pixels of the windows ``[start, start + size)`` that lie inside ``[0, n)``."""
    return np.clip(starts + size, 0, n) - np.clip(starts, 0, n)


def _block_sums(arr: np.ndarray, step: int, top: int, left: int) -> np.ndarray:
    """Sums of ``(C, h, w)`` planes over ``step x step`` blocks, the first block
    row and column starting ``top`` and ``left`` pixels before the crop (zeros there)."""
    c, h, w = arr.shape
    hb, wb = -(-(top + h) // step), -(-(left + w) // step)
    padded = np.zeros((c, hb * step, wb * step), np.float32)
    padded[:, top : top + h, left : left + w] = arr
    rows = padded[:, 0::step].copy()
    for j in range(1, step):
        rows += padded[:, j::step]
    out = rows[:, :, 0::step].copy()
    for j in range(1, step):
        out += rows[:, :, j::step]
    return out


def planes_of(image: np.ndarray) -> np.ndarray:
    """Channels-last ``(h, w, C)`` image as contiguous float32 planes ``(C, h, w)``."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(image, dtype=np.float32), -1, 0))
