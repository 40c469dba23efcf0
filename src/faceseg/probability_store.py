"""Zarr v3 stores of class probabilities: what a segmentation job writes, and its decisions read.

One store per shard of evaluation images and model: a group per image, named
``0``, ``1``, ... in the order of the root's ``image_ids``, holding ``proba``,
the model's class-balanced posteriors (before the prior correction) on the
segmentation grid (every ``stride``-th pixel of every ``stride``-th row),
``(grid rows, grid cols, classes)`` float32, chunked and compressed. An
image's attributes hold ``image_id``, ``image_shape`` (full resolution),
``canvas`` (where the grid lies on the image: :meth:`faceseg.framing.Canvas.record`,
null for the image as it is) and ``skipped`` (the reason, or null; a
skipped image has no ``proba``). The
root's attributes hold what the decisions need from the model:
``class_names``, ``class_pixel_counts``, ``class_sample_counts``, ``stride``.

Written under a temporary name and renamed when complete, like every output.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from faceseg.io import InputError, atomic_output

#: Grid pixels per chunk side: a chunk of 64 x 64 x 11 float32 is 180 kB before compression.
CHUNK_SIDE = 64
COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


@contextlib.contextmanager
def probability_shard_writer(path, attrs: dict):
    """Write a probability shard store: yields ``add(image_id, proba, image_shape, skipped, canvas)``.

    All but ``image_id`` default to None; ``canvas``: a :class:`faceseg.framing.Canvas`.
    """
    with atomic_output(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        image_ids = []

        def add(image_id: str, proba=None, image_shape=None, skipped: str | None = None, canvas=None):
            group = root.create_group(str(len(image_ids)))
            if proba is not None:
                proba = np.asarray(proba, dtype=np.float32)
                arr = group.create_array("proba", shape=proba.shape, dtype=np.float32,
                                         chunks=(CHUNK_SIDE, CHUNK_SIDE, proba.shape[2]), compressors=COMPRESSOR)
                arr[:] = proba
            group.attrs.update({"image_id": image_id, "skipped": skipped,
                                "canvas": None if canvas is None or canvas.is_whole else canvas.record(),
                                "image_shape": None if image_shape is None else [int(v) for v in image_shape[:2]]})
            image_ids.append(image_id)

        yield add
        root.attrs.update({**attrs, "image_ids": image_ids})


@dataclass
class ImageProbabilities:
    image_id: str
    image_shape: tuple[int, int] | None
    skipped: str | None
    _group: object

    def proba(self) -> np.ndarray:
        return self._group["proba"][:]

    @property
    def canvas(self):
        """Where the stored grid lies on the image (:class:`faceseg.framing.Canvas`)."""
        from faceseg.framing import Canvas

        return Canvas.from_record(self._group.attrs.get("canvas"), self.image_shape)


def read_probability_shard(path) -> tuple[dict, list[ImageProbabilities]]:
    """The root attributes and one :class:`ImageProbabilities` per image of a probability shard store."""
    path = Path(path)
    try:
        root = zarr.open_group(str(path), mode="r")
        ids = root.attrs["image_ids"]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a faceseg probability store ({exc})") from None
    images = []
    for i, image_id in enumerate(ids):
        group = root[str(i)]
        shape = group.attrs.get("image_shape")
        images.append(ImageProbabilities(image_id, None if shape is None else tuple(shape), group.attrs["skipped"],
                                         group))
    return dict(root.attrs), images
