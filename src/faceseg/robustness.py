"""How ``faceseg segment`` holds up when photos differ from the training images (``faceseg robustness``).

The evaluation split is segmented as it is and under controlled changes
(rotations, scales on a larger canvas, brightness and colour casts, JPEG
compression), and FASSEG V3's near-frontal poses are segmented with the same
model, everything through :class:`~faceseg.photo.PhotoSegmenter` exactly as the
command runs: landmarks detected on the changed photo, the model's stride and
decision. Each change is scored per class on the pixels that show the photo
(a canvas added around it is left out, so an easy padded background does not
inflate the scores), beside the unchanged figure.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from faceseg.datasets import get_dataset, list_fasseg, read_labels
from faceseg.io import InputError, NoFaceError, read_image
from faceseg.metrics import confusion_matrix


@dataclass(frozen=True)
class Change:
    """A controlled change of a photo and its labels: ``apply(image, labels) -> (image, labels, scored mask)``."""

    name: str
    apply: Callable


def _warp(image, labels, matrix, size):
    """The photo and labels under an affine ``matrix`` onto a canvas of ``size``; the canvas around the photo is
    a plain backdrop of the photo's mean edge colour, and is not scored."""
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).mean(axis=0)
    warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=tuple(float(v) for v in edge))
    moved = cv2.warpAffine(labels, matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    shown = cv2.warpAffine(np.ones(labels.shape, np.uint8), matrix, size, flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT)
    return warped, moved, shown.astype(bool)


def rotated(degrees: float) -> Change:
    """Rotation about the photo's centre (positive: counter-clockwise), on a canvas that holds all of it."""

    def apply(image, labels):
        h, w = labels.shape
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        c, s = abs(np.cos(np.radians(degrees))), abs(np.sin(np.radians(degrees)))
        size = (int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c)))
        matrix[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
        return _warp(image, labels, matrix, size)

    return Change(f"rotate {degrees:+g} deg", apply)


def rescaled(factor: float, canvas: int | None = None) -> Change:
    """The photo scaled by ``factor``, centred on a ``canvas x canvas`` picture (None: the scaled size)."""

    def apply(image, labels):
        h, w = labels.shape
        size = (canvas, canvas) if canvas else (int(round(w * factor)), int(round(h * factor)))
        if factor < 1:  # area averaging, as a camera farther away would see it, then onto the canvas
            small = (int(round(w * factor)), int(round(h * factor)))
            image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
            labels = cv2.resize(labels, small, interpolation=cv2.INTER_NEAREST)
            matrix = np.array([[1.0, 0, (size[0] - small[0]) // 2], [0, 1.0, (size[1] - small[1]) // 2]])
        else:
            matrix = np.array([[factor, 0, (size[0] - w * factor) / 2], [0, factor, (size[1] - h * factor) / 2]])
        return _warp(image, labels, matrix, size)

    where = f" on a {canvas} x {canvas} canvas" if canvas else ""
    return Change(f"scale {factor:g}x{where}", apply)


def _pixels(name: str, transform: Callable) -> Change:
    def apply(image, labels):
        return transform(image), labels, np.ones(labels.shape, bool)

    return Change(name, apply)


def gain(factor: float) -> Change:
    return _pixels(f"brightness x{factor:g}",
                   lambda im: np.clip(im.astype(np.float32) * factor, 0, 255).astype(np.uint8))


def colour_cast(rgb: tuple[float, float, float], name: str) -> Change:
    return _pixels(name, lambda im: np.clip(im.astype(np.float32) * np.float32(rgb), 0, 255).astype(np.uint8))


def jpeg(quality: int) -> Change:
    def transform(image):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    return _pixels(f"JPEG quality {quality}", transform)


UNCHANGED = _pixels("unchanged", lambda im: im)

#: The changes of the report, in its order.
CHANGES = [
    UNCHANGED,
    rotated(15), rotated(-15), rotated(30), rotated(-30),
    rescaled(0.5, 1024), rescaled(2.0),
    gain(0.6), gain(1.4),
    colour_cast((1.15, 1.0, 0.8), "warm cast (R x1.15, B x0.8)"),
    colour_cast((0.85, 1.0, 1.2), "cool cast (R x0.85, B x1.2)"),
    jpeg(30),
]
#: FASSEG V3 poses (yaw, pitch 0) segmented with a model trained on frontal images.
V3_POSES = ("0", "+15", "-15", "+30", "-30")


def score_images(segmenter, spec, items, change: Change, jobs: int = 1) -> dict:
    """Segment ``items`` (``(image path, label path)``) under ``change``: summed confusion, faces found, seconds."""

    def one(item):
        image_path, label_path = item
        image = read_image(image_path)
        labels = read_labels(spec, label_path, image.shape[:2])
        image, labels, shown = change.apply(image, labels)
        try:
            faces, _, _ = segmenter.faces(image, image_path)
        except NoFaceError:
            return None
        predicted, _, _ = segmenter.labels(image, faces)
        return confusion_matrix(labels[shown], predicted[shown], spec.n_classes)

    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(one, items))
    found = [c for c in results if c is not None]
    confusion = np.sum(found, axis=0) if found else np.zeros((spec.n_classes,) * 2, np.int64)
    return {"confusion": confusion.tolist(), "faces_found": len(found), "images": len(items),
            "seconds": round(time.perf_counter() - start, 1)}


def iou(confusion) -> np.ndarray:
    cm = np.asarray(confusion, np.float64)
    tp = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (cm.sum(axis=0) + cm.sum(axis=1) - tp)


def run(model_path, fasseg_root, n_images: int | None = None, modes=("normalised", "as is"), jobs: int = 1,
        stride: int | None = None, v3: bool = True, changes=None, version: str = "V1") -> dict:
    """Every change (and the V3 poses) in every mode: ``{"rows": [...], ...}`` for :func:`format_table`.

    ``n_images``: only the first N test images (and V3 images per pose).
    """
    from faceseg.landmarks import LandmarkDetector
    from faceseg.models import load_model
    from faceseg.photo import PhotoSegmenter

    model = load_model(model_path)
    dataset = model.info.get("dataset")
    if dataset != "fasseg":
        raise InputError(f"{model_path}: the robustness report needs a FASSEG model, this one was trained on "
                         f"{dataset!r}")
    spec = get_dataset("fasseg")
    split = "test"
    test = [(r.image_path, r.label_path) for r in list_fasseg(fasseg_root, version, split)][:n_images]
    pose_items = {}
    if v3:
        for record in list_fasseg(fasseg_root, "V3", "train"):
            pose = record.image_id.split("/")[0]
            if pose in V3_POSES and record.label_path is not None:
                pose_items.setdefault(pose, []).append((record.image_path, record.label_path))
        pose_items = {pose: items[:n_images] for pose, items in pose_items.items()}
    detector = LandmarkDetector()
    rows = []
    for mode in modes:
        segmenter = PhotoSegmenter(model, detector, stride=stride, normalise=mode == "normalised")
        for change in changes or CHANGES:
            rows.append({"mode": mode, "change": change.name, "set": f"{version} {split}",
                         **score_images(segmenter, spec, test, change, jobs)})
            print(f"  {mode}: {change.name}: {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
        for pose in V3_POSES:
            if pose in pose_items:
                rows.append({"mode": mode, "change": f"V3 yaw {pose} deg", "set": "V3 train",
                             **score_images(segmenter, spec, pose_items[pose], UNCHANGED, jobs)})
                print(f"  {mode}: V3 {pose}: {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
    return {"model": str(model_path), "kind": model.kind, "experiment": model.info.get("experiment"),
            "stride": segmenter.stride, "class_names": list(spec.class_names), "rows": rows}


def format_table(results) -> str:
    """Markdown: per-class IoU of each change and mode; the mean over the face classes (not background) too."""
    names = results["class_names"]
    head = ["change", "mode", "faces found", *names, "mean", "mean without background"]
    lines = [f"Model {results['model']} ({results['kind']}, {results['experiment']}), stride {results['stride']}. "
             "IoU on the pixels that show the photo.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["rows"]:
        values = iou(row["confusion"])
        cells = [row["change"], row["mode"], f"{row['faces_found']}/{row['images']}",
                 *(f"{v:.3f}" for v in values), f"{np.nanmean(values):.3f}", f"{np.nanmean(values[1:]):.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
