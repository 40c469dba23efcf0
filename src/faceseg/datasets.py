"""Datasets: class definitions, file layouts and label decoding.

Two layouts are supported:

* LaPa: ``<root>/{train,val,test}/{images/*.jpg, labels/*.png, landmarks/*.txt}``
  with single-channel class-index labels and 106 annotated landmarks.
* FASSEG (V1, V2, V3): ``<root>/<version>/{Train,Test}_RGB/[<pose>/]<name>.{bmp,png}``
  with colour-coded labels in ``{Train,Test}_Labels`` (``_labels`` in V3),
  decoded to the nearest nominal class colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceseg.io import InputError, read_image, read_label_image

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: its class names, display colours and splits."""

    name: str
    class_names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...]
    splits: tuple[str, ...]
    n_landmarks: int | None  # annotated landmarks per image; None = none shipped
    # The score its papers report (a key of faceseg.metrics.scores): what choices on it maximise.
    reported_metric: str = "mean_iou"

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def palette(self) -> np.ndarray:
        return np.array(self.colours, dtype=np.uint8)


FASSEG = DatasetSpec(
    name="fasseg",
    class_names=("background", "skin", "hair", "eyes", "nose", "mouth"),
    # The nominal label colours of the FASSEG repository.
    colours=((255, 0, 0), (255, 255, 0), (127, 0, 0), (0, 0, 255), (0, 255, 255), (0, 255, 0)),
    splits=("train", "test"),
    n_landmarks=None,
)

LAPA = DatasetSpec(
    name="lapa",
    class_names=(
        "background", "skin", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye",
        "nose", "upper_lip", "inner_mouth", "lower_lip", "hair",
    ),
    colours=(
        (0, 0, 0), (0, 153, 255), (102, 255, 153), (0, 204, 153), (255, 255, 102),
        (255, 255, 204), (255, 153, 0), (255, 102, 255), (102, 0, 51), (255, 204, 255),
        (255, 0, 102),
    ),
    splits=("train", "val", "test"),
    n_landmarks=106,
    reported_metric="mean_f1_foreground",
)

DATASETS = {spec.name: spec for spec in (FASSEG, LAPA)}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


@dataclass(frozen=True)
class ImageRecord:
    """One image of a split: its id (relative path without extension) and files."""

    image_id: str
    image_path: Path
    label_path: Path | None
    landmark_path: Path | None = None


def _find_dir(parent: Path, name: str) -> Path | None:
    """Return ``parent/name``, matching the name case-insensitively (V3 says ``_labels``)."""
    if not parent.is_dir():
        return None
    for child in parent.iterdir():
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _by_stem(folder: Path | None) -> dict[str, Path]:
    """Map ``relative/path/stem`` to file for every image file below ``folder``."""
    if folder is None:
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found[path.relative_to(folder).with_suffix("").as_posix()] = path
    return found


def list_fasseg(root, version: str, split: str) -> list[ImageRecord]:
    """List the images of a FASSEG split (``train`` or ``test``) of ``version``."""
    if split not in FASSEG.splits:
        raise ValueError(f"unknown FASSEG split {split!r}; choose one of {FASSEG.splits}")
    base = Path(root) / version
    rgb_dir = _find_dir(base, f"{split}_RGB")
    if rgb_dir is None:
        raise InputError(f"{base / (split.capitalize() + '_RGB')}: missing split folder")
    images = _by_stem(rgb_dir)
    if not images:
        raise InputError(f"{rgb_dir}: split folder holds no images")
    labels = _by_stem(_find_dir(base, f"{split}_labels"))
    return [ImageRecord(key, path, labels.get(key)) for key, path in images.items()]


def fasseg_pose(image_id: str) -> str | None:
    """The pose folder of a FASSEG V3 image id (``"+15/personne01..."`` -> ``"+15"``); None for V1/V2."""
    return image_id.split("/")[0] if "/" in image_id else None


def fasseg_person(image_id: str) -> int:
    """The Pointing'04 person number of a FASSEG V3 image (``personne07...`` -> 7)."""
    name = image_id.rsplit("/", 1)[-1]
    if not (name.startswith("personne") and name[8:10].isdigit()):
        raise InputError(f"{image_id}: not a Pointing'04 file name (personneNN...); cannot tell the person")
    return int(name[8:10])


def list_lapa(root, split: str) -> list[ImageRecord]:
    """List the images of a LaPa split (``train``, ``val`` or ``test``)."""
    if split not in LAPA.splits:
        raise ValueError(f"unknown LaPa split {split!r}; choose one of {LAPA.splits}")
    base = Path(root) / split
    images = _by_stem(base / "images")
    if not images:
        raise InputError(f"{base / 'images'}: missing or empty split folder")
    labels = _by_stem(base / "labels")
    records = []
    for key, path in images.items():
        lm = base / "landmarks" / f"{key}.txt"
        records.append(ImageRecord(key, path, labels.get(key), lm))
    return records


def list_images(dataset: str, root, split: str, version: str = "V1") -> list[ImageRecord]:
    if dataset == "fasseg":
        return list_fasseg(root, version, split)
    if dataset == "lapa":
        return list_lapa(root, split)
    get_dataset(dataset)  # raises the unknown-dataset error
    raise AssertionError


def decode_colour_labels(rgb: np.ndarray, colours) -> np.ndarray:
    """Map each pixel of a colour-coded label image to the nearest class colour.

    FASSEG labels carry anti-aliased edges and compression artefacts, so exact
    matching would leave hundreds of unknown colours.
    """
    palette = np.asarray(colours, dtype=np.int32)
    flat = rgb.reshape(-1, 3).astype(np.int32)
    d2 = ((flat[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1).astype(np.uint8).reshape(rgb.shape[:2])


def _index_labels(spec: DatasetSpec, path, raw: np.ndarray) -> np.ndarray:
    """Class indices of an index-coded label map, as it was saved: single-channel (8 or 16 bits, or a
    palette's indices), or RGB with the index in every channel or the dataset's exact class colours."""
    if raw.ndim == 3:
        if (raw[..., 0] == raw[..., 1]).all() and (raw[..., 0] == raw[..., 2]).all():
            raw = raw[..., 0]  # a grey index map saved as RGB
        else:
            matches = (raw[..., None, :] == spec.palette()).all(axis=-1)  # (H, W, classes)
            known = matches.any(axis=-1)
            if not known.all():
                colours = np.unique(raw[~known].reshape(-1, 3), axis=0)
                raise InputError(
                    f"{path}: {int((~known).sum())} pixels have colours that are no {spec.name} class colour "
                    f"(e.g. {[tuple(c) for c in colours[:3].tolist()]}); an RGB label map must use the "
                    "class colours exactly or hold the class index in every channel"
                )
            return matches.argmax(axis=-1).astype(np.uint8)
    if not np.issubdtype(raw.dtype, np.integer) and not np.array_equal(raw, np.round(raw)):
        raise InputError(f"{path}: {spec.name} labels must be whole class indices, got fractional values")
    return raw


def read_labels(spec: DatasetSpec, path, image_shape=None) -> np.ndarray:
    """Read a label image as ``(H, W)`` uint8 class indices, validated.

    FASSEG labels are colour-coded (nearest class colour); LaPa's are class
    indices however they were saved (:func:`_index_labels`). Values outside
    the classes and a size other than the image's raise :class:`InputError`.
    """
    if spec.name == "fasseg":
        raw = read_label_image(path, palette_as="rgb")
        labels = decode_colour_labels(raw if raw.ndim == 3 else np.repeat(raw[..., None], 3, 2), spec.colours)
    else:
        raw = _index_labels(spec, path, read_label_image(path, palette_as="indices"))
        bad = (raw < 0) | (raw >= spec.n_classes)
        if bad.any():
            raise InputError(
                f"{path}: label values {sorted(np.unique(raw[bad]).tolist())[:10]} are outside "
                f"the {spec.n_classes} classes of {spec.name} (0..{spec.n_classes - 1})"
            )
        labels = raw.astype(np.uint8)
    if image_shape is not None and labels.shape != tuple(image_shape[:2]):
        raise InputError(
            f"{path}: label size {labels.shape[1]}x{labels.shape[0]} differs from its image "
            f"{image_shape[1]}x{image_shape[0]}"
        )
    return labels


def load_example(spec: DatasetSpec, record: ImageRecord, need_labels: bool = True):
    """Read an image and (when required) its labels; returns ``(image, labels or None)``."""
    image = read_image(record.image_path)
    if record.label_path is None:
        if need_labels:
            raise InputError(f"{record.image_path}: no label image found for this image")
        return image, None
    return image, read_labels(spec, record.label_path, image.shape)

