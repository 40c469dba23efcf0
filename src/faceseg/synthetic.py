"""Generate datasets in LaPa's layout: synthetic faces, 11 classes, 106 landmarks.

For the tests (a few images) and the LaPa-scale benchmark (22,176). It
exercises the file format and the workflow's scale only; no accuracy is
claimed from it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# LaPa classes: 0 background, 1 skin, 2 left eyebrow, 3 right eyebrow, 4 left eye,
# 5 right eye, 6 nose, 7 upper lip, 8 inner mouth, 9 lower lip, 10 hair.
CLASS_COLOURS = {
    0: (40, 90, 40), 1: (220, 180, 150), 2: (60, 40, 30), 3: (60, 40, 30), 4: (250, 250, 250),
    5: (250, 250, 250), 6: (200, 150, 120), 7: (180, 60, 70), 8: (60, 10, 20), 9: (190, 70, 80),
    10: (30, 20, 15),
}


def _ellipse_points(cx, cy, ax, ay, n, start=0.0, stop=2 * np.pi):
    t = np.linspace(start, stop, n, endpoint=stop - start < 2 * np.pi - 1e-9)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)


def synthetic_face(rng: np.random.Generator, size=(128, 112)):
    """Return ``(rgb uint8, labels uint8, landmarks (106, 2))`` for one synthetic face."""
    h, w = size
    labels = np.zeros((h, w), np.uint8)
    cx, cy = w / 2 + rng.uniform(-4, 4), h / 2 + rng.uniform(0, 6)
    fw, fh = w * rng.uniform(0.30, 0.34), h * rng.uniform(0.36, 0.40)

    def ell(x, y, ax, ay, cls):
        cv2.ellipse(labels, (int(x), int(y)), (max(int(ax), 1), max(int(ay), 1)), 0, 0, 360, int(cls), -1)

    ell(cx, cy - fh * 0.35, fw * 1.15, fh * 0.9, 10)  # hair
    ell(cx, cy, fw, fh, 1)  # skin
    ex, ey = fw * 0.42, cy - fh * 0.2
    ell(cx - ex, ey - fh * 0.2, fw * 0.25, fh * 0.05, 2)
    ell(cx + ex, ey - fh * 0.2, fw * 0.25, fh * 0.05, 3)
    ell(cx - ex, ey, fw * 0.18, fh * 0.07, 4)
    ell(cx + ex, ey, fw * 0.18, fh * 0.07, 5)
    ell(cx, cy + fh * 0.1, fw * 0.12, fh * 0.2, 6)
    my = cy + fh * 0.52
    ell(cx, my - fh * 0.06, fw * 0.35, fh * 0.06, 7)
    ell(cx, my + fh * 0.06, fw * 0.35, fh * 0.06, 9)
    ell(cx, my, fw * 0.28, fh * 0.03, 8)

    palette = np.array([CLASS_COLOURS[c] for c in range(11)], np.float64)
    rgb = palette[labels] + rng.normal(0, 8, (h, w, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)

    # 106 points in the JD/LaPa order: 33 contour, brows, nose, eyes (52-57, 58-63), lips, ...
    pts = np.zeros((106, 2))
    pts[0:33] = _ellipse_points(cx, cy, fw, fh, 33, 0.0, np.pi)  # jaw (lower half)
    pts[33:38] = _ellipse_points(cx - ex, ey - fh * 0.22, fw * 0.25, fh * 0.02, 5, np.pi, 2 * np.pi)
    pts[38:43] = _ellipse_points(cx + ex, ey - fh * 0.22, fw * 0.25, fh * 0.02, 5, np.pi, 2 * np.pi)
    pts[43:52] = np.stack([np.full(9, cx), np.linspace(ey, cy + fh * 0.28, 9)], axis=1)
    pts[52:58] = _ellipse_points(cx - ex, ey, fw * 0.18, fh * 0.07, 6)
    pts[58:64] = _ellipse_points(cx + ex, ey, fw * 0.18, fh * 0.07, 6)
    pts[64:84] = _ellipse_points(cx, my, fw * 0.35, fh * 0.12, 20)
    pts[84:104] = _ellipse_points(cx, my, fw * 0.28, fh * 0.03, 20)
    pts[104] = (cx - ex, ey)
    pts[105] = (cx + ex, ey)
    return rgb, labels, pts


def make_lapa(root, counts=None, seed=0) -> Path:
    """Write ``root/{train,val,test}/{images,labels,landmarks}``; returns ``root``."""
    counts = counts or {"train": 3, "val": 2, "test": 2}
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        for sub in ("images", "labels", "landmarks"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"{split}_{i:04d}"
            rgb, labels, pts = synthetic_face(rng)
            Image.fromarray(rgb).save(root / split / "images" / f"{name}.jpg", quality=95)
            Image.fromarray(labels, mode="L").save(root / split / "labels" / f"{name}.png")
            lines = [str(len(pts))] + [f"{x:.2f} {y:.2f}" for x, y in pts]
            (root / split / "landmarks" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


# FASSEG class -> LaPa class, for a LaPa-layout copy of real faces (detected-landmark tests).
FASSEG_TO_LAPA = np.array([0, 1, 10, 4, 6, 7], np.uint8)  # eyes -> left_eye, mouth -> upper_lip


def lapa_points_from_dlib68(points68: np.ndarray) -> np.ndarray:
    """106 points in LaPa's layout made from dlib's 68 (for generated layouts, not a landmark model).

    The 68 go where :data:`faceseg.landmarks.LAPA_TO_DLIB68` puts them; each
    other LaPa point copies the one with the nearest index among those.
    """
    from faceseg.landmarks import LAPA_TO_DLIB68

    out = np.empty((106, 2))
    out[LAPA_TO_DLIB68] = points68
    for k in sorted(set(range(106)) - set(LAPA_TO_DLIB68.tolist())):
        out[k] = points68[int(np.argmin(np.abs(LAPA_TO_DLIB68 - k)))]
    return out


def make_lapa_from_fasseg(root, fasseg_root, counts=None, annotated: bool = False) -> Path:
    """LaPa layout holding real FASSEG V1 faces (as JPEG), labels mapped to LaPa classes.

    ``annotated``: also 106-point landmark files in LaPa's layout, from dlib's
    detections (:func:`lapa_points_from_dlib68`), standing in for LaPa's annotation.
    """
    from faceseg.datasets import FASSEG, decode_colour_labels
    from faceseg.landmarks import LandmarkDetector

    counts = counts or {"train": 3, "test": 2}
    root = Path(root)
    detector = LandmarkDetector() if annotated else None
    for split, n in counts.items():
        src = Path(fasseg_root) / "V1" / f"{split.capitalize()}_RGB"
        for sub in ("images", "labels") + (("landmarks",) if annotated else ()):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            rgb = Image.open(src / f"{i}.png").convert("RGB")
            rgb.save(root / split / "images" / f"face_{i}.jpg", quality=95)
            label_rgb = np.asarray(Image.open(src.parent / f"{split.capitalize()}_Labels" / f"{i}.png").convert("RGB"))
            labels = FASSEG_TO_LAPA[decode_colour_labels(label_rgb, FASSEG.colours)]
            Image.fromarray(labels, mode="L").save(root / split / "labels" / f"face_{i}.png")
            if annotated:
                pts = lapa_points_from_dlib68(detector.detect(np.asarray(rgb)).points)
                lines = ["106"] + [f"{x:.2f} {y:.2f}" for x, y in pts]
                (root / split / "landmarks" / f"face_{i}.txt").write_text("\n".join(lines) + "\n")
    return root
