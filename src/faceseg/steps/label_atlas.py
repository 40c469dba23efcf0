"""The label atlas of the training images (rule label_atlas)."""

from __future__ import annotations

import logging

from faceseg.atlas import build_label_atlas
from faceseg.datasets import get_dataset, read_labels
from faceseg.io import InputError, read_image, read_landmarks

log = logging.getLogger(__name__)


def read_label_atlas(dataset: str, split: str, images, n_landmarks: int | None = None):
    """The label atlas of ``images``: ``(image_id, image_path, label_path, landmark_path)`` each.

    An image without a face, or whose files cannot be used, is left out, with a warning.
    """
    spec = get_dataset(dataset)

    def entries():
        for image_id, image_path, label_path, landmark_path in images:
            try:
                image = read_image(image_path)
                if label_path is None:
                    raise InputError(f"{image_path}: no label image found for this atlas image")
                labels = read_labels(spec, label_path, image.shape)
                points = read_landmarks(landmark_path, image_shape=image.shape, n_points=n_landmarks)
            except InputError as exc:  # no face, or a bad file: the atlas is made of the others
                log.warning("%s: left out of the label atlas: %s", image_id, exc)
                yield image_id, None, None
                continue
            yield image_id, labels, points

    return build_label_atlas(split, entries(), spec.class_names)


def build_atlas(dataset: str, split: str, images, out_path, n_landmarks: int | None = None) -> None:
    """Write the label atlas of ``images`` (as :func:`read_label_atlas`) to ``out_path``."""
    atlas = read_label_atlas(dataset, split, images, n_landmarks)
    atlas.save(out_path)
    log.info("label atlas of %d %s images: %s", len(atlas.ids), split, ", ".join(atlas.ids))
