"""Facial landmark detection with dlib (68 points).

The frontal (HOG) face detector is tried first; where it finds no face, the CNN
detector shipped in ``face-recognition-models`` is tried. The largest face is
used; how many were found is reported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np


def model_dir() -> Path:
    """Folder of the dlib model files shipped by ``face-recognition-models``.

    Located without importing the package, whose ``__init__`` needs
    ``pkg_resources`` (absent from modern environments).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package face-recognition-models is not installed (pip install face-recognition-models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@dataclass
class Detection:
    points: np.ndarray | None  # (68, 2) x, y of the largest face; None when no face was found
    n_faces: int
    detector: str | None  # "hog" or "cnn"
    reason: str | None = None
    faces: list = field(default_factory=list)  # (68, 2) points of each face located, largest first


class LandmarkDetector:
    """dlib face detector plus 68-point shape predictor."""

    n_points = 68

    def __init__(self, upsample: int = 1, cnn_fallback: bool = True):
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self.cnn_fallback = bool(cnn_fallback)

    @cached_property
    def _hog(self):
        import dlib

        return dlib.get_frontal_face_detector()

    @cached_property
    def _cnn(self):
        import dlib

        return dlib.cnn_face_detection_model_v1(str(model_dir() / "mmod_human_face_detector.dat"))

    @cached_property
    def _shape(self):
        import dlib

        return dlib.shape_predictor(str(model_dir() / "shape_predictor_68_face_landmarks.dat"))

    def detect(self, image: np.ndarray, all_faces: bool = False) -> Detection:
        """Detect the largest face in an RGB uint8 image and its 68 landmarks (``all_faces``: every face's)."""
        image = np.ascontiguousarray(image)
        rects, detector = list(self._hog(image, self.upsample)), "hog"
        if not rects and self.cnn_fallback:
            rects, detector = [d.rect for d in self._cnn(image, self.upsample)], "cnn"
        if not rects:
            tried = "HOG and CNN detectors" if self.cnn_fallback else "HOG detector"
            return Detection(None, 0, None, f"no face found by the dlib {tried}")
        rects = sorted(rects, key=lambda r: r.width() * r.height(), reverse=True)
        faces = [np.array([[p.x, p.y] for p in self._shape(image, rect).parts()], dtype=np.float64)
                 for rect in (rects if all_faces else rects[:1])]
        return Detection(faces[0], len(rects), detector, faces=faces)
