"""The picture ``faceseg segment`` writes beside a photo's labels: photo | labels blended in, with a legend.

Drawn with OpenCV rather than matplotlib: it is written once per photo, often
from several threads (``--jobs``), and costs milliseconds this way.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceseg.io import atomic_output

#: Colours of classes a dataset without a palette of its own gets (matplotlib's tab10).
GENERIC_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                   (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def generic_colours(n: int) -> list[tuple[int, int, int]]:
    return [GENERIC_COLOURS[i % len(GENERIC_COLOURS)] for i in range(n)]


def _text(canvas, text, org, scale, colour=(0, 0, 0)):
    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(1, int(round(scale * 2))),
                cv2.LINE_AA)


def photo_overlay(image, labels, class_names, colours, out_png, landmarks=None, title: str = "",
                  alpha: float = 0.5) -> None:
    """Write ``photo | photo blended with the label colours`` with the landmarks, a legend and a title, as PNG."""
    h, w = labels.shape
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colours)] = colours
    blended = ((1 - alpha) * image + alpha * palette[labels].astype(np.float32)).astype(np.uint8)
    left = np.array(image, np.uint8, copy=True)
    if landmarks is not None:
        radius = max(1, int(round(max(h, w) / 400)))
        for x, y in np.asarray(landmarks):
            cv2.circle(left, (int(round(x)), int(round(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    scale = max(0.4, max(h, w) / 1000)  # text size grows with the photo
    line = int(32 * scale)
    legend_w = int(line * (2 + max(len(n) for n in class_names) * 0.55))
    top = line + 8
    canvas = np.full((top + max(h, line * len(class_names) + 8), 2 * w + legend_w + 16, 3), 255, np.uint8)
    canvas[top : top + h, :w] = left
    canvas[top : top + h, w + 8 : 2 * w + 8] = blended
    _text(canvas, title, (4, int(line * 0.75)), scale * 0.8)
    x0 = 2 * w + 16
    for i, (name, colour) in enumerate(zip(class_names, colours)):
        y = top + i * line
        cv2.rectangle(canvas, (x0, y + 4), (x0 + line - 8, y + line - 4), tuple(int(c) for c in colour), -1)
        cv2.rectangle(canvas, (x0, y + 4), (x0 + line - 8, y + line - 4), (0, 0, 0), 1)
        _text(canvas, name.replace("_", " "), (x0 + line, y + int(line * 0.7)), scale * 0.7)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{out_png}: PNG encoding failed")
    with atomic_output(out_png) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(encoded.tobytes())
