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


#: dlib's 68-point layout taken from LaPa's 106 annotated points: point ``i`` of the 68 is LaPa's
#: ``LAPA_TO_DLIB68[i]``. LaPa: 0-32 the contour from the image left, 33-37 / 42-46 the upper edges
#: of the image-left / image-right brows (38-41, 47-50 their lower edges), 51-54 the nose bridge,
#: 58-62 the nose's lower edge, 66-73 / 75-82 the eye contours from the image-left corner (74, 83
#: the pupils, 104, 105 their copies), 84-95 the outer and 96-103 the inner lips. dlib: 0-16 the
#: jaw, 17-21 / 22-26 the brows, 27-30 the bridge, 31-35 the nose's lower edge, 36-41 / 42-47 the
#: eyes (corner, two upper, corner, two lower), 48-59 the outer and 60-67 the inner lips. Matched
#: point by point to dlib's detections on real LaPa images (docs/experiments.md, LaPa protocols).
LAPA_TO_DLIB68 = np.array(
    [*range(0, 33, 2), 33, 34, 35, 36, 37, 42, 43, 44, 45, 46, 51, 52, 53, 54, 58, 59, 60, 61, 62,
     66, 67, 68, 70, 71, 73, 75, 76, 78, 79, 80, 82, *range(84, 104)]
)

#: dlib's 68 points by face part, for per-part comparisons.
DLIB68_PARTS = {"contour": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
                "lips": range(48, 68)}


def lapa_to_dlib68(points: np.ndarray) -> np.ndarray:
    """LaPa's 106 annotated points as dlib's 68-point layout (:data:`LAPA_TO_DLIB68`)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (106, 2):
        raise ValueError(f"LaPa landmarks are 106 (x, y) points, got an array of shape {points.shape}")
    return points[LAPA_TO_DLIB68]


def landmark_agreement(points: np.ndarray, reference: np.ndarray) -> dict:
    """How far two 68-point sets lie apart, in inter-ocular distances of ``reference``.

    Returns the mean distance over all points and per face part
    (:data:`DLIB68_PARTS`), and the mean offset ``(dx, dy)`` per part: a
    systematic offset is a difference of definition, not of precision.
    """
    points, reference = np.asarray(points, np.float64), np.asarray(reference, np.float64)
    if points.shape != (68, 2) or reference.shape != (68, 2):
        raise ValueError(f"two (68, 2) point sets are compared, got {points.shape} and {reference.shape}")
    iod = np.linalg.norm(reference[36:42].mean(axis=0) - reference[42:48].mean(axis=0))
    offset = (points - reference) / iod
    distance = np.linalg.norm(offset, axis=1)
    return {"mean": float(distance.mean()),
            "parts": {name: float(distance[list(idx)].mean()) for name, idx in DLIB68_PARTS.items()},
            "offsets": {name: offset[list(idx)].mean(axis=0).round(4).tolist() for name, idx in DLIB68_PARTS.items()}}
