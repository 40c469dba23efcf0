"""File input and output: images, label maps, landmark files, atomic writes.

Every reader raises :class:`InputError` naming the file and the problem, so a
failed job's log says which file to look at. Every writer goes through
:func:`atomic_output`, so a killed or failed job leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Landmarks may lie this fraction of the image size outside the image (a chin
#: cut by the frame); beyond that the file is taken to be wrong.
LANDMARK_MARGIN = 0.1

#: The most pixels an image or label file may hold. Checked from the header, before anything
#: is decoded, so a small file that would expand to gigabytes (a decompression bomb) is refused
#: naming it. 150 MP passes any camera's photo (6144 x 6144 is 38 MP); the environment variable
#: FACESEG_MAX_IMAGE_PIXELS changes it (it reaches the workflow's jobs, local or on SLURM).
MAX_IMAGE_PIXELS = int(os.environ.get("FACESEG_MAX_IMAGE_PIXELS", 150_000_000))
# Pillow's own check (a warning at 89 MP, an error at twice that) gives way to this one, which every
# reader of an input file passes (:func:`_opened`) and whose message names the budget.
Image.MAX_IMAGE_PIXELS = None

#: A landmark file is a count and a line per point (LaPa's 106 points take about 2 kB).
MAX_LANDMARK_FILE_BYTES = 1 << 20


class InputError(ValueError):
    """A dataset file that cannot be used; the message names the file."""


class NoFaceError(InputError):
    """No face (or no landmarks) for this image; the image is skipped."""


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Works for files and directories (zarr stores). On any exception the
    temporary path is removed and ``path`` is left as it was; temporary paths
    left by a killed earlier attempt at the same output are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A job killed outright (SIGKILL) cannot clean up; its rerun does.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _opened(path, what: str, use):
    """``use(im)`` of the opened image file (decoding is up to ``use``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise InputError(f"{path}: {w}x{h} {what} ({w * h / 1e6:.0f} MP) is over the "
                                 f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP budget; not decoded (FACESEG_MAX_IMAGE_PIXELS "
                                 "raises it)")
            return use(im)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable {what} ({exc})") from exc


def _load(path, what: str, convert):
    """Open an image file fully and ``convert`` it; errors name the file."""

    def use(im):
        im.load()
        return convert(im)

    return _opened(path, what, use)


#: 16-bit and 32-bit integer single-channel modes, scaled to 8 bits by their full range.
_WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _as_rgb8(im: Image.Image) -> np.ndarray:
    """The picture as a viewer shows it, as ``(H, W, 3)`` uint8 RGB.

    The EXIF orientation is applied (phones store portrait photos sideways with
    a tag); 16-bit grey is scaled to 8 bits (``convert`` would clip it to
    white); transparency is laid on white; palette, grey and CMYK become RGB.
    """
    im = ImageOps.exif_transpose(im)
    if im.mode in _WIDE_GREY_MODES:
        grey = np.asarray(im).astype(np.float64) / 257.0  # 65535 -> 255
        return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 255.0 / 65535.0
        grey = np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def read_image(path) -> np.ndarray:
    """Read an image as ``(H, W, 3)`` uint8 RGB, as it is meant to be seen (see :func:`_as_rgb8`).

    The one image reader of the workflow and of ``faceseg segment``.
    """
    return _load(path, "image", _as_rgb8)


#: The reductions a JPEG decoder can apply while decoding (scaled inverse DCT).
JPEG_REDUCTIONS = (1, 2, 4, 8)


def read_image_reduced(path, scale: float) -> tuple[np.ndarray, int]:
    """An image wanted at ``scale`` times its size, decoded small where that is cheap: ``(image, reduction)``.

    A JPEG is decoded at 1/2, 1/4 or 1/8 of its size (the largest reduction
    ``r`` with ``1 / r >= scale``), at a fraction of the cost of a full decode
    then a shrink; pixel ``i`` of the result covers the full image's pixels
    around ``(i + 0.5) r - 0.5``. Other formats are read whole (``r = 1``).
    Otherwise as :func:`read_image`.
    """
    reduction = max((r for r in JPEG_REDUCTIONS if r * scale <= 1), default=1)

    def use(im):
        w, h = im.size
        if reduction > 1 and im.format == "JPEG":
            im.draft("RGB", (max(1, w // reduction), max(1, h // reduction)))
        im.load()
        return _as_rgb8(im), round(w / im.size[0])

    return _opened(path, "image", use)


def image_shape(path) -> tuple[int, int]:
    """``(H, W)`` of an image as :func:`read_image` returns it (EXIF orientation applied), from its header."""

    def use(im):
        w, h = im.size
        # Orientations 5-8 turn the picture by 90 degrees.
        return (w, h) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (h, w)

    return _opened(path, "image", use)


def read_label_image(path, palette_as: str = "indices") -> np.ndarray:
    """Read a label image as stored: ``(H, W)`` values for single-channel, else ``(H, W, 3)`` RGB.

    Single-channel 8- and 16-bit maps keep their values (no scaling: they are
    class indices). A palette image's values are its indices
    (``palette_as="indices"``, how index maps are often saved) or the colours
    they stand for (``"rgb"``, for colour-coded labels).
    """
    if palette_as not in ("indices", "rgb"):
        raise ValueError(f"palette_as must be 'indices' or 'rgb', got {palette_as!r}")

    def convert(im):
        if im.mode in ("L", "I", "F") or im.mode.startswith("I;16"):
            return np.asarray(im)
        if im.mode in ("P", "PA"):
            return np.asarray(im.convert("P") if im.mode == "PA" else im) if palette_as == "indices" \
                else np.asarray(im.convert("RGB"))
        return np.asarray(im.convert("RGB"))

    return _load(path, "label image", convert)


def write_png(path, array: np.ndarray) -> None:
    """Write a uint8 ``(H, W)`` or ``(H, W, 3)`` array as PNG, atomically."""
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")


def read_landmarks(path, image_shape=None, n_points=None) -> np.ndarray:
    """Read a LaPa-style landmark file: a point count, then one ``x y`` per line.

    Returns ``(K, 2)`` float64 ``(x, y)`` pixel coordinates. A file whose count
    is 0 marks an image where no face was found (see :func:`write_landmarks`);
    it raises :class:`NoFaceError` with the recorded reason.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: landmark file not found")
    size = path.stat().st_size
    if size > MAX_LANDMARK_FILE_BYTES:
        raise InputError(f"{path}: {size} bytes, too large for a landmark file (at most {MAX_LANDMARK_FILE_BYTES} "
                         "bytes: a count and one 'x y' line per point)")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text landmark file ({exc})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputError(f"{path}: empty landmark file")
    try:
        count = int(lines[0])
    except ValueError:
        raise InputError(f"{path}: first line must be the point count, got {lines[0]!r}") from None
    if count == 0:
        reason = comments[0] if comments else "no landmarks"
        raise NoFaceError(f"{path}: {reason}")
    if n_points is not None and count != n_points:
        raise InputError(f"{path}: expected {n_points} landmarks, the file declares {count}")
    if len(lines) - 1 != count:
        raise InputError(f"{path}: declares {count} points but has {len(lines) - 1} point lines")
    rows = []
    for number, line in enumerate(lines[1:], start=1):
        values = line.split()
        if len(values) != 2:
            raise InputError(f"{path}: point line {number} must hold exactly two numbers 'x y', got {line!r}")
        try:
            rows.append([float(v) for v in values])
        except ValueError:
            raise InputError(f"{path}: non-numeric landmark value on point line {number}: {line!r}") from None
    points = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(points)):
        raise InputError(f"{path}: landmark values must be finite")
    if image_shape is not None:
        h, w = image_shape[:2]
        mx, my = LANDMARK_MARGIN * w, LANDMARK_MARGIN * h
        x, y = points[:, 0], points[:, 1]
        outside = (x < -mx) | (x > w - 1 + mx) | (y < -my) | (y > h - 1 + my)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise InputError(
                f"{path}: {int(outside.sum())} landmark(s) outside the {w}x{h} image, "
                f"first is point {i} at ({points[i, 0]:.1f}, {points[i, 1]:.1f})"
            )
    return points


def write_landmarks(path, points, reason: str | None = None) -> None:
    """Write a LaPa-style landmark file atomically.

    ``points=None`` writes a zero-count file whose comment line holds ``reason``
    (why no face was found), so the skip and its cause are cached too.
    """
    if points is None:
        text = f"0\n# {reason or 'no face found'}\n"
    else:
        points = np.asarray(points, dtype=np.float64)
        body = "".join(f"{x:.3f} {y:.3f}\n" for x, y in points)
        text = f"{len(points)}\n{body}"
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)
