"""Segmenting a new photo with a trained model (``faceseg segment``).

The features have fixed pixel scales (colour windows, HOG cells, patches) and
the location features are positions in the training images, so a face is
first put where, and at the size, it sat in the typical training image: a
similarity transform from its landmarks (:func:`faceseg.framing.to_training_frame`)
levels the eye line and scales the face to the training face scale. The photo
is resampled through that transform only where it has to be (a tilt or a
scale change the features would feel); otherwise it is used as it is and only
the location features are mapped. Either way the whole photo is classified:
the training frame is extended as far as the photo goes (up to
``context`` frames on each side of the face), so hair, neck and shoulders
around the face are segmented too, and the probabilities are mapped back to
the photo's pixels before the decision.

With several faces, each photo pixel belongs to the nearest face (in face
scales) and is segmented in that face's frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceseg.datasets import get_dataset
from faceseg.decision import biased_argmax, smoothed
from faceseg.features import feature_halo
from faceseg.framing import (
    FRAMING_DEFAULTS,
    affine3,
    apply_affine,
    frame_size,
    resampling,
    to_training_frame,
    warp_maps,
    warp_picture,
)
from faceseg.io import InputError, NoFaceError, read_image, read_landmarks, write_png
from faceseg.overlay import generic_colours, photo_overlay
from faceseg.segment import predict_proba_grid, upsample_grid

#: A face tilted less than this (degrees) is not rotated, and one within this
#: factor of the training face scale is not rescaled (:func:`faceseg.framing.resampling`,
#: the workflow's own tolerances).
MAX_TILT_DEG = FRAMING_DEFAULTS["max_tilt_deg"]
MAX_RESCALE = FRAMING_DEFAULTS["max_rescale"]
#: How far around the face a photo is segmented, in training frames on each side.
CONTEXT_FRAMES = 3.0


@dataclass(frozen=True)
class FaceView:
    """One face of a photo and how the model is shown it."""

    landmarks: np.ndarray  # (K, 2) photo pixels (x, y)
    to_frame: np.ndarray  # (2, 3): photo pixels -> pixels of the training framing
    frame_size: tuple[float, float]  # the training framing's width and height (px)
    tilt_deg: float  # the eye line's angle in the photo, degrees clockwise as seen (the y axis points down)
    zoom: float  # training face scale / the face's scale in the photo
    resample: bool  # whether the photo is resampled (rotated, rescaled) for this face

    def _frame_coords(self, xs, ys):
        u = self.to_frame[0, 0] * xs + self.to_frame[0, 1] * ys + self.to_frame[0, 2]
        v = self.to_frame[1, 0] * xs + self.to_frame[1, 1] * ys + self.to_frame[1, 2]
        return u, v

    def frame_distance(self, xs, ys) -> np.ndarray:
        """Distance of photo pixels to the face's origin, in training-frame pixels (comparable across faces)."""
        u, v = self._frame_coords(xs, ys)
        w, h = self.frame_size
        return np.hypot(u - w / 2, v - h / 2)

    def in_context(self, xs, ys, context: float) -> np.ndarray:
        """Whether photo pixels map within ``context`` training frames of the frame (on each side)."""
        u, v = self._frame_coords(xs, ys)
        w, h = self.frame_size
        return (u >= -context * w) & (u <= (1 + context) * w) & (v >= -context * h) & (v <= (1 + context) * h)


def face_view(landmarks, framing: dict | None, feature_config: dict, normalise: bool = True) -> FaceView:
    """How a face is shown to a model trained on images of ``framing`` (a model's ``info["face_framing"]``).

    ``normalise`` False, or no framing: the photo as it is, its location
    features relative to the photo (what the workflow does with its images).
    """
    landmarks = np.asarray(landmarks, np.float64)
    if not normalise or not framing:
        return FaceView(landmarks, None, None, 0.0, 1.0, False)
    to_frame = to_training_frame(landmarks, framing, feature_config)
    linear = to_frame[:, :2]
    zoom = float(np.sqrt(abs(np.linalg.det(linear))))
    # to_frame rotates the eye line onto the horizontal: the photo's tilt is minus that rotation.
    tilt = -float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
    resample = any(resampling(tilt, zoom, MAX_TILT_DEG, MAX_RESCALE))
    return FaceView(landmarks, to_frame, frame_size(framing), tilt, zoom, resample)


def face_regions(shape, views: list[FaceView], context: float = CONTEXT_FRAMES) -> np.ndarray:
    """Which face segments each photo pixel: ``(H, W)`` int16, the index of its nearest face, -1 beyond context."""
    h, w = shape[:2]
    if len(views) == 1 and views[0].to_frame is None:
        return np.zeros((h, w), np.int16)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    best = np.full((h, w), np.inf, np.float32)
    owner = np.full((h, w), -1, np.int16)
    for i, view in enumerate(views):
        if view.to_frame is None:
            raise ValueError("face_regions: every face needs a frame when there are several")
        d = view.frame_distance(xs, ys).astype(np.float32)
        d[~view.in_context(xs, ys, context)] = np.inf
        closer = d < best
        owner[closer], best[closer] = i, d[closer]
    return owner


def _canvas(image, view: FaceView, box, margin: int):
    """The picture a face's model sees for photo region ``box``, and ``photo -> canvas`` (3x3 affine)."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    if not view.resample:
        cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
        cx1, cy1 = min(w, x1 + margin), min(h, y1 + margin)
        to_canvas = affine3([[1, 0, -cx0], [0, 1, -cy0]])
        return np.ascontiguousarray(image[cy0:cy1, cx0:cx1]), to_canvas
    corners = apply_affine(view.to_frame, [[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
    lo = np.floor(corners.min(axis=0)).astype(int) - margin
    hi = np.ceil(corners.max(axis=0)).astype(int) + margin
    shift = affine3([[1, 0, -lo[0]], [0, 1, -lo[1]]])
    size = (int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    canvas = warp_picture(image, (shift @ affine3(view.to_frame))[:2], size, view.zoom)
    return canvas, shift @ affine3(view.to_frame)


def face_probabilities(model, image, view: FaceView, box, stride: int, tile_size: int = 256,
                       threads: int = 1) -> np.ndarray:
    """Prior-corrected, smoothed class probabilities of photo region ``box = (x0, y0, x1, y1)`` for one face.

    Shape ``(y1 - y0, x1 - x0, n_classes)``. The model classifies the face's
    canvas (:func:`_canvas`) on its stride grid; the probabilities are
    interpolated, smoothed with the model's ``smooth_sigma`` (in canvas pixels,
    the training images' scale) and mapped back onto the photo region.
    """
    margin = feature_halo(model.feature_config) + 2 * stride
    canvas, to_canvas = _canvas(image, view, box, margin)
    canvas_landmarks = None if view.landmarks is None else apply_affine(to_canvas, view.landmarks)
    if view.to_frame is None:  # x / W, y / H of the photo, as the workflow computes them
        h, w = image.shape[:2]
        location_map = np.diag([1 / w, 1 / h, 1.0]) @ np.linalg.inv(to_canvas)
    else:
        fw, fh = view.frame_size
        location_map = np.diag([1 / fw, 1 / fh, 1.0]) @ affine3(view.to_frame) @ np.linalg.inv(to_canvas)
    grid = predict_proba_grid(model, canvas, canvas_landmarks, tile_size, threads, stride=stride,
                              location_map=location_map[:2])
    proba = smoothed(upsample_grid(grid, stride, canvas.shape[:2]), model.decision["smooth_sigma"])
    x0, y0, x1, y1 = box
    to_region = to_canvas @ affine3([[1, 0, x0], [0, 1, y0]])  # region pixels -> canvas pixels
    if not view.resample:
        cx, cy = int(round(to_region[0, 2])), int(round(to_region[1, 2]))
        return proba[cy : cy + (y1 - y0), cx : cx + (x1 - x0)]
    return warp_maps(proba, to_region, (y1 - y0, x1 - x0))


def segment_faces(model, image, views: list[FaceView], stride: int, tile_size: int = 256, threads: int = 1,
                  context: float = CONTEXT_FRAMES):
    """Labels of a photo with one or more faces: ``(labels (H, W) uint8, pixels beyond every face's context)``.

    Pixels farther than ``context`` training frames from every face are
    labelled class 0 (background) without being classified.
    """
    owner = face_regions(image.shape, views, context)
    labels = np.zeros(image.shape[:2], np.uint8)
    bias = model.decision_bias
    for i, view in enumerate(views):
        mask = owner == i
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if not len(rows):
            continue
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        proba = face_probabilities(model, image, view, box, stride, tile_size, threads)
        x0, y0, x1, y1 = box
        region = biased_argmax(proba, bias)
        inside = mask[y0:y1, x0:x1]
        labels[y0:y1, x0:x1][inside] = region[inside]
    return labels, int((owner < 0).sum())


class PhotoSegmenter:
    """A model and a landmark detector, loaded once, that segment photos (possibly from several threads)."""

    def __init__(self, model, detector=None, stride: int | None = None, tile_size: int = 256, threads: int = 1,
                 normalise: bool = True, all_faces: bool = False, context: float = CONTEXT_FRAMES):
        self.model = model
        self.detector = detector
        self.stride = stride or model.segmentation_stride or 1
        if tile_size % self.stride:
            raise InputError(f"--stride {self.stride} does not divide --tile-size {tile_size}")
        self.tile_size, self.threads = tile_size, threads
        self.normalise, self.all_faces, self.context = normalise, all_faces, context
        self.framing = model.info.get("face_framing")
        # dlib's detectors are not documented as thread-safe, and they hold the GIL anyway.
        self._detect_lock = threading.Lock()

    def _needs_landmarks(self) -> bool:
        return self.model.n_landmarks is not None or (self.normalise and bool(self.framing))

    def faces(self, image, photo_path, landmark_path=None):
        """``(landmarks of each face, how they were found, faces found)``; no landmarks needed: ``([], None, None)``."""
        n_points = self.model.n_landmarks
        if not self._needs_landmarks():
            return [], None, None
        if landmark_path is not None:
            return [read_landmarks(landmark_path, image.shape, n_points=n_points)], str(landmark_path), 1
        if self.detector is None:
            from faceseg.landmarks import LandmarkDetector

            self.detector = LandmarkDetector()
        if n_points is not None and n_points != self.detector.n_points:
            raise InputError(
                f"{self.model.source or 'the model'} was trained with {n_points} landmarks per image, and dlib "
                f"detects {self.detector.n_points}: give a landmark file with {n_points} points per photo "
                "(--landmarks), or use a model trained with detected landmarks"
            )
        with self._detect_lock:
            found = self.detector.detect(image, all_faces=self.all_faces)
        if found.points is None:
            raise NoFaceError(f"{photo_path}: {found.reason}")
        return list(found.faces), f"dlib {found.detector} detector", found.n_faces

    def labels(self, image, faces: list) -> tuple[np.ndarray, list[FaceView], int]:
        """Labels of a photo given its faces' landmarks (``[]``: a model without landmarks, as is)."""
        if not faces:
            labels, beyond = segment_faces(self.model, image, [FaceView(None, None, None, 0.0, 1.0, False)],
                                           self.stride, self.tile_size, self.threads, self.context)
            return labels, [], beyond
        views = [face_view(points, self.framing, self.model.feature_config, self.normalise) for points in faces]
        if len(views) > 1 and views[0].to_frame is None:
            raise InputError("several faces need the model's training framing; segment them with normalisation on")
        labels, beyond = segment_faces(self.model, image, views, self.stride, self.tile_size, self.threads,
                                       self.context)
        return labels, views, beyond

    def segment(self, photo_path, out_dir, landmark_path=None) -> dict:
        """Segment one photo: writes ``<stem>_labels.png`` and ``<stem>_overlay.png`` into ``out_dir``.

        Raises :class:`NoFaceError` when no face is found, :class:`InputError`
        for an unreadable photo or landmark file; nothing is written then.
        """
        photo_path = Path(photo_path)
        image = read_image(photo_path)
        faces, source, n_found = self.faces(image, photo_path, landmark_path)
        labels, views, beyond = self.labels(image, faces)
        model = self.model
        class_names = model.class_names
        try:
            colours = list(get_dataset(model.info.get("dataset", "")).colours)
        except ValueError:  # a dataset this version does not know: a generic palette
            colours = generic_colours(len(class_names))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        result = {
            "photo": str(photo_path), "faces_found": n_found, "faces_segmented": len(faces), "landmarks": source,
            "stride": self.stride, "labels": str(out_dir / f"{photo_path.stem}_labels.png"),
            "overlay": str(out_dir / f"{photo_path.stem}_overlay.png"),
            "faces": [{"tilt_deg": round(v.tilt_deg, 1), "zoom": round(v.zoom, 3), "resampled": v.resample}
                      for v in views],
            "pixels_beyond_context": beyond,
        }
        write_png(result["labels"], labels)
        photo_overlay(image, labels, class_names, colours, result["overlay"],
                            np.concatenate(faces) if faces else None,
                            f"{photo_path.name}: {model.kind} model ({model.info.get('dataset', '?')}, "
                            f"{model.info.get('experiment', '?')})")
        result["pixels_per_class"] = dict(zip(class_names, np.bincount(labels.ravel(), minlength=len(class_names))
                                              .tolist()))
        return result
