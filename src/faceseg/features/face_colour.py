"""Face-colour features: the pixel's colour relative to the face's own skin.

People differ in skin tone and photos in lighting, so an absolute colour
means different things from one image to the next. This group measures each
colour against a reference taken from the same face: the median CIE Lab
colour of two disks on the cheeks, placed by the landmarks (below each eye
centre by 0.6 inter-ocular distances, radius ``radius`` inter-ocular
distances). For a layout without known eyes the disk is centred on the
landmarks' centroid, with ``radius`` in units of their RMS spread.

Channels: ``fc_dl, fc_da, fc_db`` (Lab minus the reference, scaled as the
colour group scales Lab), ``fc_de`` (the length of that difference), and the
same four for the local mean colour over each of ``mean_sizes`` (px),
``fc_dl_mean9`` etc. The reference comes from the whole image, so tiles equal
the whole-image computation. A disk the photo cuts off moves to the nearest
place inside it.

``references: [skin, hair]`` adds the same channels against a second
reference, ``fh_*``: the median Lab of a disk above the head (1.6
inter-ocular distances above the eyes, radius 0.3). It is the hair in most
portraits (the scalp or a hat otherwise); the classifier learns how far to
trust it.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceseg.features._context import planes_of
from faceseg.features._params import check_choices, check_sizes, with_defaults
from faceseg.features.landmarks import EYE_INDICES, face_frame

DEFAULTS = {"mean_sizes": [], "radius": 0.15, "references": ["skin"]}
CHANNELS = ("dl", "da", "db", "de")
#: Lab scaled to about [0, 1] / [-1, 1], as in the colour group.
LAB_SCALE = np.array([1 / 100, 1 / 127, 1 / 127], np.float32)
#: Where the cheek disks are centred, in face-frame units (inter-ocular distances).
CHEEKS = ((-0.5, 0.6), (0.5, 0.6))
#: The disk above the head: centre in face-frame units, radius in inter-ocular distances.
CROWN, CROWN_RADIUS = (0.0, -1.6), 0.3
#: Channel-name prefix of each reference.
PREFIX = {"skin": "fc", "hair": "fh"}


def validate(params: dict) -> dict:
    p = with_defaults("face_colour", params, DEFAULTS)
    check_sizes("face_colour.mean_sizes", p["mean_sizes"], allow_empty=True)
    check_choices("face_colour.references", p["references"], PREFIX)
    r = p["radius"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
        raise ValueError(f"face_colour.radius must be a number in (0, 1] (face scales), got {r!r}")
    return p


def names(params: dict, n_landmarks) -> list[str]:
    out = []
    for ref in params["references"]:
        out += [f"{PREFIX[ref]}_{c}" for c in CHANNELS]
        for size in params["mean_sizes"]:
            out += [f"{PREFIX[ref]}_{c}_mean{size}" for c in CHANNELS]
    return out


def halo(params: dict) -> int:
    return max((size // 2 + 1 for size in params["mean_sizes"]), default=0)


def _median_lab(image: np.ndarray, centres, r: float) -> np.ndarray | None:
    """Median scaled Lab ``(3,)`` of the pixels within ``r`` of any of ``centres`` (None: no pixel)."""
    h, w = image.shape[:2]
    pixels = []
    for cx, cy in centres:
        x0, x1 = max(int(np.floor(cx - r)), 0), min(int(np.ceil(cx + r)) + 1, w)
        y0, y1 = max(int(np.floor(cy - r)), 0), min(int(np.ceil(cy + r)) + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        pixels.append(image[y0:y1, x0:x1][inside])
    pixels = np.concatenate(pixels) if pixels else np.zeros((0, 3), np.uint8)
    if len(pixels) == 0:
        return None
    lab = cv2.cvtColor(pixels[None].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0]
    return (np.median(lab, axis=0) * LAB_SCALE).astype(np.float32)


def _reference(image: np.ndarray, points: np.ndarray, centres, radius: float, what: str) -> np.ndarray:
    """Median scaled Lab ``(3,)`` of disks at face-frame ``centres`` (radius in face scales).

    A disk the photo cuts off moves to the nearest place where it fits (or
    to the middle of a small image), so a face at the border still has a
    reference. ``centres`` None: one disk on the landmarks' centroid.
    """
    origin, axes, scale = face_frame(np.asarray(points, dtype=np.float64), "auto")
    r = max(radius * scale, 1.0)
    h, w = image.shape[:2]
    inside = []
    for u, v in centres or [(0.0, 0.0)]:
        cx, cy = origin + scale * (u * axes[0] + v * axes[1])
        inside.append((float(np.clip(cx, min(r, w / 2), max(w - 1 - r, w / 2))),
                       float(np.clip(cy, min(r, h / 2), max(h - 1 - r, h / 2)))))
    ref = _median_lab(image, inside, r)
    if ref is None:  # only for an image smaller than a pixel's disk
        raise ValueError(f"face_colour: no pixel to take the {what} reference from in a {w}x{h} image")
    return ref


def skin_reference(image: np.ndarray, points: np.ndarray, radius: float = 0.15) -> np.ndarray:
    """Median scaled Lab colour ``(3,)`` of the cheek disks of ``image`` (RGB uint8, whole image)."""
    return _reference(image, points, CHEEKS if len(points) in EYE_INDICES else None, radius, "skin")


def hair_reference(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Median scaled Lab colour ``(3,)`` of the disk above the head."""
    return _reference(image, points, [CROWN], CROWN_RADIUS, "hair")


def _differences(values: np.ndarray, reference: np.ndarray, out: np.ndarray) -> None:
    """Write ``values - reference`` (n, 3) and its length into ``out`` (n, 4).

    Column by column: the output columns are contiguous planes, and a
    reduction across them would stride through memory.
    """
    for c in range(3):
        np.subtract(values[:, c], reference[c], out=out[:, c])
    length = out[:, 3]
    np.multiply(out[:, 0], out[:, 0], out=length)
    for c in (1, 2):
        length += out[:, c] * out[:, c]
    np.sqrt(length, out=length)


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    if ctx.landmarks is None:
        raise ValueError("the face_colour feature group needs landmarks for this image")
    references = {
        "skin": lambda: skin_reference(ctx.full_image, ctx.landmarks, params["radius"]),
        "hair": lambda: hair_reference(ctx.full_image, ctx.landmarks),
    }
    # The same planes (and cache key) as the colour group's Lab, so they are converted once.
    lab = ctx.cached(("colour", "lab"), lambda: ctx.lab() * LAB_SCALE)
    # The pixel's colour, then its local means: read once, measured against every reference.
    colours = [ctx.at(lab)]
    for size in params["mean_sizes"]:
        means = np.empty((3, ctx.n), np.float32).T  # column-major, as the feature matrix
        colours.append(ctx.box_mean(("colour", "lab"), lambda: planes_of(lab), size, out=means))
    col = 0
    for ref in params["references"]:
        key = ("face_colour", ref, params["radius"] if ref == "skin" else None)
        reference = ctx.cached(key, references[ref])
        for values in colours:
            _differences(values, reference, out[:, col : col + 4])
            col += 4
    return out
