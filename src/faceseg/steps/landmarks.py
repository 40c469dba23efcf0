"""Landmark detection with dlib, one shard of images per job (rule detect_landmarks)."""

from __future__ import annotations

import logging
from pathlib import Path

from faceseg import features
from faceseg.io import (
    InputError,
    NoFaceError,
    atomic_output,
    read_image,
    read_landmarks,
    write_landmarks,
)
from faceseg.logutil import ShardTimer

log = logging.getLogger(__name__)


def detect_landmarks(image_path, out_path, upsample: int = 1, cnn_fallback: bool = True, detector=None) -> None:
    """Detect 68 landmarks and cache them as a LaPa-style file (zero points when no face).

    ``detector``: a loaded :class:`~faceseg.landmarks.LandmarkDetector` to reuse
    across images (``upsample`` and ``cnn_fallback`` then come from it).
    """
    if detector is None:
        from faceseg.landmarks import LandmarkDetector

        detector = LandmarkDetector(upsample, cnn_fallback)
    image = read_image(image_path)
    found = detector.detect(image)
    if found.points is None:
        log.warning("%s: %s; the image will be skipped", image_path, found.reason)
        write_landmarks(out_path, None, f"{image_path}: {found.reason}")
        return
    log.info("%s: %d face(s) found by the %s detector; landmarks of the largest", image_path, found.n_faces,
             found.detector)
    write_landmarks(out_path, found.points)


def detect_landmarks_shard(images: list[dict], out_dir, upsample: int = 1, cnn_fallback: bool = True) -> dict:
    """Landmarks of a shard of images into ``out_dir/<image_id>.txt``, dlib's models loaded once.

    ``images``: one ``{"image_id", "image"}`` per image. An unreadable image
    gets a no-face file whose reason names it, so the steps after skip it and
    say why. The folder appears when every image is done. Returns the timing.
    """
    from faceseg.landmarks import LandmarkDetector

    detector = LandmarkDetector(upsample, cnn_fallback)
    timer = ShardTimer("detect_landmarks")
    with atomic_output(out_dir) as tmp:
        Path(tmp).mkdir()
        for item in images:
            out = Path(tmp) / f"{item['image_id']}.txt"
            with timer.image():
                try:
                    detect_landmarks(item["image"], out, detector=detector)
                except InputError as exc:
                    log.error("%s: skipped: %s", item["image_id"], exc)
                    write_landmarks(out, None, str(exc))
    return timer.report()


def landmarks_if_needed(feature_config, landmark_path, image_shape, n_points, framed: bool = False):
    """The image's landmarks when the features or the framing use them, else None.

    NoFaceError for a no-face file when the features use landmarks; when only
    the framing (``framed``) does, a no-face image has no frame: None, and
    the image is described as it is.
    """
    uses_points = features.needs_landmarks(feature_config)
    if not uses_points and not framed:
        return None
    if landmark_path is None:
        raise ValueError("the feature configuration or the framing uses landmarks but no landmark file was given")
    try:
        return read_landmarks(landmark_path, image_shape=image_shape, n_points=n_points)
    except NoFaceError as exc:
        if uses_points:
            raise
        log.warning("%s; the image is described unframed", exc)
        return None
