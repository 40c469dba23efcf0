"""Where the face sits in an image: the training images' typical framing, and the canonical frame.

The workflow computes each image's features in a canonical frame from its
landmarks (:class:`ImageFraming`): the face at one scale and, where tilted,
with a level eye line, on a canvas of bounded size; the class probabilities
are mapped back to the image's own pixels (:meth:`Canvas.image_maps`).
``faceseg segment`` maps a photo's faces onto the training framing with the
same warps (:func:`warp_picture`, :func:`warp_maps`) and the same tolerances
(:func:`resampling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def face_frame_of(landmarks, feature_config, zoom: float = 1.0, image_shape=None) -> dict:
    """Where the face sits in an image: the landmark frame's origin (x, y) and scale, in pixels.

    ``zoom``: the scale the features saw the image at (its canvas's,
    :class:`Canvas`); origin, scale and ``image_shape`` are given at it.
    """
    from faceseg.features.landmarks import face_frame

    frame = feature_config.get("landmarks", {}).get("frame", "auto")
    origin, _, scale = face_frame(landmarks, frame)
    out = {"origin": [float(origin[0] * zoom), float(origin[1] * zoom)], "scale": float(scale * zoom)}
    if zoom != 1.0 and image_shape is not None:
        out["image_shape"] = [float(image_shape[0] * zoom), float(image_shape[1] * zoom)]
    return out


def face_framing(frames) -> dict | None:
    """The training images' typical framing (medians), from per-image ``face_frame`` records.

    ``scale`` is the face scale in pixels; ``origin`` the face origin as a
    fraction of the image width and height; ``size`` the image width and height
    in face scales. A new photo's faces are mapped onto it (:func:`to_training_frame`).
    """
    frames = [f for f in frames or [] if f]
    if not frames:
        return None
    scale = np.array([f["scale"] for f in frames])
    shape = np.array([f["image_shape"] for f in frames], dtype=np.float64)  # (h, w)
    origin = np.array([f["origin"] for f in frames])  # (x, y)
    return {
        "scale": float(np.median(scale)),
        "origin": [float(np.median(origin[:, 0] / shape[:, 1])), float(np.median(origin[:, 1] / shape[:, 0]))],
        "size": [float(np.median(shape[:, 1] / scale)), float(np.median(shape[:, 0] / scale))],
        "n_images": len(frames),
    }


def frame_size(framing: dict) -> tuple[float, float]:
    """Width and height, in pixels, of the typical training image of a framing (:func:`face_framing`)."""
    return framing["size"][0] * framing["scale"], framing["size"][1] * framing["scale"]


def to_training_frame(landmarks, framing: dict, feature_config, level_eyes: bool = True) -> np.ndarray:
    """The similarity transform that puts a face where, and at the size, it is in the typical training image.

    A ``(2, 3)`` matrix mapping photo pixels ``(x, y)`` to pixels of the
    training framing (:func:`frame_size`): the face's origin goes to the
    framing's origin, its scale to the framing's scale and, with
    ``level_eyes``, its eye line (the ``eyes`` face frame's axis) to the
    horizontal.
    """
    from faceseg.features.landmarks import face_frame

    frame = feature_config.get("landmarks", {}).get("frame", "auto")
    origin, axes, scale = face_frame(landmarks, frame)
    width, height = frame_size(framing)
    target = np.array([framing["origin"][0] * width, framing["origin"][1] * height])
    linear = (axes if level_eyes else np.eye(2)) * (framing["scale"] / scale)
    return np.hstack([linear, (target - linear @ origin)[:, None]])


# ---------------------------------------------------------------------------
# The canonical frame of the workflow's images (config ``framing``).

#: Shrinking by more than this is done by area averaging first: a linear warp alone would alias.
AREA_SHRINK_BELOW = 0.7


def affine3(m) -> np.ndarray:
    """A ``(2, 3)`` affine map as its ``(3, 3)`` homogeneous matrix."""
    return np.vstack([np.asarray(m, np.float64)[:2], [0.0, 0.0, 1.0]])


def apply_affine(m, points) -> np.ndarray:
    """``(x, y)`` points through a ``(2, 3)`` or ``(3, 3)`` affine map."""
    m = np.asarray(m, np.float64)
    return np.asarray(points, np.float64) @ m[:2, :2].T + m[:2, 2]


def resampling(tilt_deg: float, zoom: float, max_tilt_deg: float, max_rescale: float) -> tuple[bool, bool]:
    """``(rotate, rescale)``: whether a face this tilted and this far from the wanted scale is resampled.

    Resampling blurs the picture, and the features barely change under a
    smaller tilt or scale change, so a face within the tolerances is used as
    it is (the workflow and ``faceseg segment`` share this rule).
    """
    return abs(tilt_deg) > max_tilt_deg, not 1 / max_rescale <= zoom <= max_rescale


def warp_picture(image: np.ndarray, to_canvas, size, zoom: float) -> np.ndarray:
    """The picture seen through ``to_canvas`` (``(2, 3)``: image pixels -> canvas pixels), ``size = (w, h)``.

    ``zoom``: the map's scale; below :data:`AREA_SHRINK_BELOW` the image is
    first shrunk by area averaging. Pixels beyond the image repeat its border.
    """
    to_canvas = affine3(to_canvas)
    source = image
    if zoom < AREA_SHRINK_BELOW:
        source = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        # Shrunk pixel i covers image pixels around (i + 0.5) / zoom - 0.5.
        t = 0.5 / zoom - 0.5
        to_canvas = to_canvas @ affine3([[1 / zoom, 0, t], [0, 1 / zoom, t]])
    return cv2.warpAffine(source, to_canvas[:2], (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def warp_maps(maps: np.ndarray, to_maps, shape) -> np.ndarray:
    """Per-class maps read at every pixel of an ``(H, W)`` picture: ``to_maps`` (2x3) maps its pixels to the maps'.

    Bilinear; pixels beyond the maps take the nearest border value.
    """
    h, w = shape[:2]
    out = np.empty((h, w, maps.shape[2]), np.float32)
    for k in range(0, maps.shape[2], 4):  # warpAffine takes at most 4 channels
        part = np.ascontiguousarray(maps[..., k : k + 4])
        warped = cv2.warpAffine(part, np.asarray(to_maps, np.float64)[:2], (w, h),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        out[..., k : k + 4] = warped.reshape(h, w, -1)
    return out


@dataclass(frozen=True)
class Canvas:
    """Where an image's pixels go in its canonical frame, and the picture the features are computed on.

    ``to_canvas`` maps image pixels ``(x, y)`` to canvas pixels; ``size`` is
    the canvas's ``(width, height)``; ``zoom`` its scale (canvas pixels per
    image pixel). The identity canvas (:meth:`whole`) is the image as it is.
    """

    to_canvas: np.ndarray
    size: tuple[int, int]
    image_shape: tuple[int, int]
    zoom: float = 1.0
    tilt_deg: float = 0.0

    @classmethod
    def whole(cls, image_shape) -> Canvas:
        h, w = (int(v) for v in image_shape[:2])
        return cls(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (w, h), (h, w))

    @property
    def is_whole(self) -> bool:
        """Whether the canvas is the image as it is."""
        return self.is_crop and not self.to_canvas[:, 2].any() and tuple(self.size) == self.image_shape[::-1]

    @property
    def is_crop(self) -> bool:
        """Whether the canvas is a plain crop of the image (no resampling)."""
        return bool(np.allclose(self.to_canvas[:, :2], np.eye(2)) and np.allclose(self.to_canvas[:, 2] % 1, 0))

    def picture(self, image: np.ndarray, reduction: int = 1) -> np.ndarray:
        """The canvas's pixels from the image (a crop when nothing is resampled).

        ``reduction``: ``image`` is the image decoded ``reduction`` times
        smaller (:func:`faceseg.io.read_image_reduced`; only where the canvas
        resamples): its pixel ``i`` covers the image's around ``(i + 0.5) r - 0.5``.
        """
        if self.is_crop:
            if reduction != 1:
                raise ValueError("a cropping canvas reads the image at full size")
            x0, y0 = (-int(round(v)) for v in self.to_canvas[:, 2])
            w, h = self.size
            return np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])
        r, t = reduction, (reduction - 1) / 2
        to_canvas = affine3(self.to_canvas) @ affine3([[r, 0, t], [0, r, t]])
        return warp_picture(image, to_canvas[:2], self.size, self.zoom * r)

    @property
    def reduction_scale(self) -> float:
        """The scale the image may be decoded at for :meth:`picture` (1: full size; see ``reduction``)."""
        return 1.0 if self.is_crop else self.zoom

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """The label of each canvas pixel: the image pixel nearest it; 255 beyond the image."""
        if self.is_whole:
            return labels
        if self.is_crop:
            return self.picture(labels)
        return cv2.warpAffine(labels, self.to_canvas, tuple(int(v) for v in self.size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=255)

    def image_pixels(self, coords) -> np.ndarray:
        """Canvas pixels ``(row, col)`` as the nearest image pixels, clipped to the image."""
        xy = apply_affine(np.linalg.inv(affine3(self.to_canvas)), np.asarray(coords, np.float64)[:, ::-1])
        h, w = self.image_shape
        return np.stack([np.clip(np.rint(xy[:, 1]), 0, h - 1), np.clip(np.rint(xy[:, 0]), 0, w - 1)],
                        axis=1).astype(np.int32)

    def points(self, points) -> np.ndarray | None:
        return None if points is None else apply_affine(self.to_canvas, points)

    def location_map(self) -> np.ndarray | None:
        """The ``location_map`` (2x3) that makes the canvas's location features those of the image pixels.

        Canvas pixel centres ``(x + 0.5, y + 0.5)`` -> ``((x' + 0.5) / W, (y' + 0.5) / H)``
        of the image pixel ``(x', y')`` beneath, as the image alone would give;
        None for the whole image (the features' own normalisation).
        """
        if self.is_whole:
            return None
        h, w = self.image_shape
        half = affine3([[1, 0, 0.5], [0, 1, 0.5]])
        return (np.diag([1 / w, 1 / h, 1.0]) @ half @ np.linalg.inv(affine3(self.to_canvas))
                @ np.linalg.inv(half))[:2]

    def image_maps(self, grid: np.ndarray, stride: int, step: int = 1) -> np.ndarray:
        """Per-class maps known on the canvas's stride grid, read at every image pixel (bilinear).

        ``step`` > 1: at every ``step``-th pixel of every ``step``-th row only.
        """
        h, w = self.image_shape
        to_maps = np.diag([1 / stride, 1 / stride, 1.0]) @ affine3(self.to_canvas) @ np.diag([step, step, 1.0])
        return warp_maps(grid, to_maps, (-(-h // step), -(-w // step)))

    def record(self) -> dict:
        return {"to_canvas": self.to_canvas.tolist(), "size": list(self.size), "image_shape": list(self.image_shape),
                "zoom": self.zoom, "tilt_deg": self.tilt_deg}

    @classmethod
    def from_record(cls, record: dict | None, image_shape) -> Canvas:
        """A stored :meth:`record`; None: the image as it is."""
        if not record:
            return cls.whole(image_shape)
        return cls(np.asarray(record["to_canvas"], np.float64), tuple(record["size"]), tuple(record["image_shape"]),
                   float(record["zoom"]), float(record["tilt_deg"]))


#: The keys of the ``framing`` configuration and their defaults (``face_scale`` has none: per dataset).
FRAMING_DEFAULTS = {"max_tilt_deg": 5.0, "max_rescale": 1.15, "extent": 6.0}


@dataclass(frozen=True)
class ImageFraming:
    """How the workflow puts an image in its canonical frame (config ``framing``).

    The face's eye-to-eye distance (the ``eyes`` face frame's scale) becomes
    ``face_scale`` pixels and its eye line horizontal, within the tolerances
    of :func:`resampling`, and the canvas keeps ``extent`` face scales on
    each side of the face (beyond: not classified; the nearest classified
    pixel's probabilities). Features then see faces at one scale, and the
    cost of an image depends on its face, not on its pixels.
    """

    face_scale: float
    max_tilt_deg: float = FRAMING_DEFAULTS["max_tilt_deg"]
    max_rescale: float = FRAMING_DEFAULTS["max_rescale"]
    extent: float = FRAMING_DEFAULTS["extent"]

    @classmethod
    def of(cls, settings: dict | None) -> ImageFraming | None:
        """From a ``{face_scale, max_tilt_deg, max_rescale, extent}`` record; None or no face_scale: no framing."""
        if not settings or settings.get("face_scale") is None:
            return None
        values = {**FRAMING_DEFAULTS, **settings}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"framing.{key} must be a positive number, got {value!r}")
        if values["max_rescale"] < 1:
            raise ValueError(f"framing.max_rescale must be at least 1, got {values['max_rescale']!r}")
        return cls(float(values["face_scale"]), float(values["max_tilt_deg"]), float(values["max_rescale"]),
                   float(values["extent"]))

    def as_dict(self) -> dict:
        return {"face_scale": self.face_scale, "max_tilt_deg": self.max_tilt_deg, "max_rescale": self.max_rescale,
                "extent": self.extent}

    def canvas(self, image_shape, landmarks) -> Canvas:
        """The canvas of an image whose face has ``landmarks`` (68 or 106 points, or any: centroid frame)."""
        from faceseg.features.landmarks import face_frame

        origin, axes, scale = face_frame(landmarks, "auto")
        tilt = float(np.degrees(np.arctan2(axes[0, 1], axes[0, 0])))
        zoom = self.face_scale / scale
        rotate, rescale = resampling(tilt, zoom, self.max_tilt_deg, self.max_rescale)
        zoom = zoom if rescale else 1.0
        linear = zoom * (axes if rotate else np.eye(2))
        h, w = (int(v) for v in image_shape[:2])
        corners = apply_affine(np.hstack([linear, np.zeros((2, 1))]), [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]])
        centre = linear @ origin
        reach = self.extent * scale * zoom
        lo = np.floor(np.maximum(corners.min(axis=0), centre - reach))
        hi = np.ceil(np.minimum(corners.max(axis=0), centre + reach))
        if (hi < lo).any():  # the face lies beyond the image: keep the image
            lo, hi = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0))
        size = (int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)
        return Canvas(np.hstack([linear, -lo[:, None]]), size, (h, w), float(zoom), tilt)
