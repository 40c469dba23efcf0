"""Multi-atlas label transfer: where the training images' labels fall on a new face.

A :class:`LabelAtlas` holds some training images' label maps and landmarks.
For a pixel of another image, each atlas image's thin-plate spline (fitted
on the two images' landmarks) says where that pixel falls on the atlas face,
and the atlas's label there (bilinear in the one-hot labels) is read. The mean
over the atlas images is the pixel's label distribution as the annotators
drew that part of the face: a shape prior that follows the landmarks
(the ``label_atlas`` feature group). It is computed on the nodes of an
8 px grid and interpolated bilinearly in between: the mean of many outlines
varies over several pixels, and the grid makes a dense pass cheap.

An image's own labels must not describe it, or a model would learn to copy
them: a training image that is one of the atlas images is described by the
others only (:meth:`LabelAtlas.without`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from faceseg.io import InputError, atomic_output

log = logging.getLogger(__name__)

FORMAT = "faceseg-label-atlas"
#: Pixels between the nodes where the atlas is evaluated (bilinear in between):
#: the mean of many annotators' outlines varies over several pixels, not one.
FIELD_STEP = 8


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

    @cached_property
    def _one_hot(self) -> tuple[np.ndarray, ...]:
        """Each label map as ``(H, W, n_classes)`` uint8 planes of 0 or 255, for OpenCV's bilinear remap."""
        planes = np.eye(len(self.class_names), dtype=np.uint8) * 255
        return tuple(planes[labels] for labels in self.labels)

    def transfer(self, landmarks, rows, cols, step: int = FIELD_STEP) -> np.ndarray:
        """Mean atlas label distribution at pixels ``(rows, cols)`` of an image with ``landmarks``.

        Returns ``(n, n_classes)`` float32 rows that sum to 1 (to about 1e-3).
        The distribution is computed on the nodes of a grid of ``step`` pixels
        (anchored at multiples of ``step``, so a tile and the whole image share
        their nodes) and interpolated bilinearly in between (``step`` 1:
        exactly at each pixel).
        """
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (self.n_landmarks, 2):
            raise ValueError(f"label atlas: the image has {len(landmarks)} landmarks, the atlas images "
                             f"{self.n_landmarks}")
        rows = np.asarray(rows, np.float64)
        cols = np.asarray(cols, np.float64)
        n_classes = len(self.class_names)
        if len(rows) == 0:
            return np.zeros((0, n_classes), np.float32)
        r0, c0 = np.floor(rows.min() / step) * step, np.floor(cols.min() / step) * step
        node_rows = np.arange(r0, rows.max() + step, step)
        node_cols = np.arange(c0, cols.max() + step, step)
        nodes = np.column_stack([np.tile(node_cols, len(node_rows)), np.repeat(node_rows, len(node_cols))])  # (x, y)
        # One thin-plate spline per atlas image, from this image's landmarks to
        # that image's; they share their centres, so scipy solves and evaluates
        # them together.
        targets = self.landmarks.transpose(1, 0, 2).reshape(self.n_landmarks, -1)
        try:
            from scipy.interpolate import (
                RBFInterpolator,  # here: 0.6 s of imports that most jobs need not pay
            )

            splines = RBFInterpolator(landmarks, targets, kernel="thin_plate_spline", degree=1)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ValueError(f"label atlas: no thin-plate spline fits these landmarks ({exc})") from None
        mapped = splines(nodes).astype(np.float32).reshape(len(node_rows), len(node_cols), len(self.ids), 2)
        field = np.zeros((len(node_rows), len(node_cols), n_classes), np.float32)
        for k, one_hot in enumerate(self._one_hot):
            seen = cv2.remap(one_hot, np.ascontiguousarray(mapped[:, :, k, 0]),
                             np.ascontiguousarray(mapped[:, :, k, 1]), cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
            field += seen.reshape(field.shape)
        field /= 255.0 * len(self.ids)
        # OpenCV remaps take 2-D maps of under 32767 columns: the points as rows of 4096.
        width = min(len(rows), 4096)
        pad = -len(rows) % width

        def as_map(values):
            return np.pad(values, (0, pad), mode="edge").astype(np.float32).reshape(-1, width)

        out = cv2.remap(field, as_map((cols - c0) / step), as_map((rows - r0) / step), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(-1, n_classes)[: len(rows)]

    # -- persistence ----------------------------------------------------------
    def save(self, path) -> None:
        arrays = {f"labels_{i}": labels for i, labels in enumerate(self.labels)}
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, format=np.array(FORMAT), split=np.array(self.split), ids=np.array(self.ids),
                                landmarks=self.landmarks, class_names=np.array(self.class_names), **arrays)


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
