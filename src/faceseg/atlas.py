"""Multi-atlas label transfer: where the training images' labels fall on a new face.

A :class:`LabelAtlas` holds some training images' label maps and landmarks.
For a pixel of another image, each atlas image's thin-plate spline (fitted
on the two images' landmarks) says where that pixel falls on the atlas face,
and the atlas's label there (bilinear in the one-hot labels) is read. The mean
over the atlas images is the pixel's label distribution as the annotators
drew that part of the face: a shape prior that follows the landmarks
(the ``label_atlas`` feature group).

An image's own labels must not describe it, or a model would learn to copy
them: a training image that is one of the atlas images is described by the
others only (:meth:`LabelAtlas.without`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import map_coordinates
from skimage.transform import ThinPlateSplineTransform

from faceseg.io import InputError, atomic_output

log = logging.getLogger(__name__)

FORMAT = "faceseg-label-atlas"
#: Pixels between the grid nodes where each thin-plate spline is evaluated.
SPLINE_STEP = 8


@dataclass(frozen=True)
class LabelAtlas:
    """Label maps and landmarks of the atlas images (``ids``), of one split."""

    split: str
    ids: tuple[str, ...]
    labels: tuple[np.ndarray, ...]  # (H_i, W_i) uint8 class indices
    landmarks: np.ndarray  # (n_images, K, 2) float64 (x, y)
    class_names: tuple[str, ...]

    def __post_init__(self):
        if not self.ids:
            raise ValueError("a label atlas needs at least one image")
        if len(self.labels) != len(self.ids) or len(self.landmarks) != len(self.ids):
            raise ValueError(f"label atlas: {len(self.ids)} ids, {len(self.labels)} label maps and "
                             f"{len(self.landmarks)} landmark sets")

    @property
    def n_landmarks(self) -> int:
        return self.landmarks.shape[1]

    def without(self, split: str, image_id: str) -> LabelAtlas:
        """The atlas minus ``image_id`` of ``split`` (itself when that image is not one of its images)."""
        if split != self.split or image_id not in self.ids:
            return self
        keep = [i for i, name in enumerate(self.ids) if name != image_id]
        return LabelAtlas(self.split, tuple(self.ids[i] for i in keep), tuple(self.labels[i] for i in keep),
                          self.landmarks[keep], self.class_names)

    def transfer(self, landmarks, rows, cols, step: int = SPLINE_STEP) -> np.ndarray:
        """Mean atlas label distribution at pixels ``(rows, cols)`` of an image with ``landmarks``.

        Returns ``(n, n_classes)`` float32 rows that sum to 1. Each spline is
        evaluated on a grid of ``step`` pixels over the points' bounding box
        and interpolated bilinearly in between (``step`` 1: exactly at each point).
        """
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (self.n_landmarks, 2):
            raise ValueError(f"label atlas: the image has {len(landmarks)} landmarks, the atlas images "
                             f"{self.n_landmarks}")
        rows = np.asarray(rows, np.float64)
        cols = np.asarray(cols, np.float64)
        out = np.zeros((len(rows), len(self.class_names)), np.float32)
        if len(rows) == 0:
            return out
        # A thin-plate spline is smooth: on a coarse grid it costs a few thousand
        # evaluations instead of one per pixel, and bilinear interpolation between
        # grid nodes 8 px apart moves a point by far less than a pixel.
        # Nodes on multiples of step, so that a tile and the whole image interpolate between the same nodes.
        r0, c0 = np.floor(rows.min() / step) * step, np.floor(cols.min() / step) * step
        gy = np.arange(r0, rows.max() + step, step)
        gx = np.arange(c0, cols.max() + step, step)
        nodes = np.column_stack([np.repeat(gx[None], len(gy), 0).ravel(), np.repeat(gy, len(gx))])  # (x, y)
        at = [(rows - r0) / step, (cols - c0) / step]
        index = np.arange(len(rows))
        for labels, atlas_landmarks in zip(self.labels, self.landmarks):
            # The spline maps this image's coordinates onto the atlas image's.
            spline = ThinPlateSplineTransform.from_estimate(landmarks, atlas_landmarks)
            if not spline:
                raise ValueError(f"label atlas: no thin-plate spline fits these landmarks ({spline})")
            mapped = spline(nodes).reshape(len(gy), len(gx), 2)
            x = map_coordinates(mapped[..., 0], at, order=1, mode="nearest")
            y = map_coordinates(mapped[..., 1], at, order=1, mode="nearest")
            _add_bilinear(out, index, labels, x, y)
        out /= len(self.ids)
        return out

    # -- persistence ----------------------------------------------------------
    def save(self, path) -> None:
        arrays = {f"labels_{i}": labels for i, labels in enumerate(self.labels)}
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, format=np.array(FORMAT), split=np.array(self.split), ids=np.array(self.ids),
                                landmarks=self.landmarks, class_names=np.array(self.class_names), **arrays)


def _add_bilinear(out, index, labels, x, y) -> None:
    """Add the bilinear one-hot label of ``labels`` at points ``(x, y)`` (clipped to the image) to ``out``."""
    h, w = labels.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(x.astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(y.astype(np.intp), max(h - 2, 0))
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    for yy, xx, weight in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x1, (1 - fy) * fx),
                           (y1, x0, fy * (1 - fx)), (y1, x1, fy * fx)):
        # One class per row and corner, so plain fancy-index addition never repeats a cell.
        out[index, labels[yy, xx]] += weight


def load_label_atlas(path) -> LabelAtlas:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label atlas file not found")
    try:
        with np.load(path) as data:
            if str(data["format"]) != FORMAT:
                raise KeyError("format")
            ids = tuple(str(i) for i in data["ids"])
            return LabelAtlas(str(data["split"]), ids, tuple(data[f"labels_{i}"] for i in range(len(ids))),
                              data["landmarks"].astype(np.float64), tuple(str(c) for c in data["class_names"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a faceseg label atlas ({type(exc).__name__}: {exc})") from None


def choose_atlas_ids(image_ids, n: int) -> list[str]:
    """``n`` of the ``image_ids`` spread evenly over their sorted order (all of them when there are fewer)."""
    ids = sorted(image_ids)
    if len(ids) <= n:
        return ids
    picks = np.linspace(0, len(ids) - 1, n).round().astype(int)
    return [ids[i] for i in picks]


def build_label_atlas(split: str, entries, class_names) -> LabelAtlas:
    """An atlas from ``entries``: ``(image_id, labels, landmarks or None)``; images without landmarks are left out."""
    ids, labels, points = [], [], []
    for image_id, label_map, landmarks in entries:
        if landmarks is None:
            log.warning("label atlas: %s left out: no landmarks", image_id)
            continue
        ids.append(str(image_id))
        labels.append(np.asarray(label_map, np.uint8))
        points.append(np.asarray(landmarks, np.float64))
    if not ids:
        raise InputError("label atlas: none of its images has landmarks")
    counts = {len(p) for p in points}
    if len(counts) > 1:
        raise InputError(f"label atlas: the images' landmark counts differ: {sorted(counts)}")
    return LabelAtlas(split, tuple(ids), tuple(labels), np.stack(points), tuple(class_names))
