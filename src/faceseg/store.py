"""Zarr v3 stores of sampled pixel features.

A store is a group with arrays ``X`` (samples x features, float32), ``y``
(class index, uint8), ``coords`` (row, col; int32) and, in a merged store,
``image_index`` (int32, which image a row came from). Its attributes hold
``feature_names``, ``class_names``, ``feature_config``, ``config_digest`` and,
for a per-image store, ``image_id`` and ``skipped`` (the reason, or null).

A shard store (what the workflow's ``extract_features`` writes) holds one such
group per image of a shard, named ``0``, ``1``, ... in the order of its
``image_ids`` attribute; :func:`image_groups` reads either kind.

Stores are written to a temporary folder and renamed into place, so a killed
job never leaves a store that looks complete.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from faceseg.io import InputError, atomic_output
from faceseg.logutil import progress

CHUNK_ROWS = 16384
COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
ARRAYS = {"X": np.float32, "y": np.uint8, "coords": np.int32, "image_index": np.int32}


def _create(group, name, n_rows, width, chunk_rows):
    shape = (n_rows,) if width is None else (n_rows, width)
    chunks = (max(1, min(n_rows, chunk_rows)),) + (() if width is None else (width,))
    return group.create_array(name, shape=shape, dtype=ARRAYS[name], chunks=chunks, compressors=COMPRESSOR)


def write_sample_store(path, X, y, coords, attrs: dict, chunk_rows: int = CHUNK_ROWS) -> None:
    """Write one image's samples (possibly none, for a skipped image) as a zarr store."""
    with atomic_output(path) as tmp:
        _write_samples(zarr.open_group(str(tmp), mode="w", zarr_format=3), X, y, coords, attrs, chunk_rows)


def _write_samples(group, X, y, coords, attrs: dict, chunk_rows: int = CHUNK_ROWS) -> None:
    X = np.asarray(X, dtype=np.float32)
    n, width = X.shape
    if len(y) != n or len(coords) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} and coords {len(coords)}")
    if len(attrs.get("feature_names", [])) != width:
        raise ValueError(f"X has {width} columns but attrs name {len(attrs.get('feature_names', []))} features")
    for name, data, w in (("X", X, width), ("y", y, None), ("coords", coords, 2)):
        arr = _create(group, name, n, w, chunk_rows)
        if n:
            arr[:] = np.asarray(data, dtype=ARRAYS[name])
    group.attrs.update(attrs)


@contextlib.contextmanager
def sample_shard_writer(path, chunk_rows: int = CHUNK_ROWS):
    """Write a shard store, one image at a time: yields ``add(X, y, coords, attrs)``.

    The store appears at ``path`` only when the block ends without an error.
    """
    with atomic_output(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        image_ids = []

        def add(X, y, coords, attrs):
            _write_samples(root.create_group(str(len(image_ids))), X, y, coords, attrs, chunk_rows)
            image_ids.append(attrs["image_id"])

        yield add
        root.attrs.update({"image_ids": image_ids})


def image_groups(path) -> list[tuple[str, object, str]]:
    """``(image id, group, where)`` of each image of a per-image or shard store.

    ``where`` names the store (and the image inside a shard store) for messages.
    """
    path = Path(path)
    try:
        root = zarr.open_group(str(path), mode="r")
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path}: not a faceseg feature store ({exc})") from None
    if "image_ids" not in root.attrs:
        return [(root.attrs.get("image_id", path.name), open_store(path), str(path))]
    return [(image_id, open_store(path / str(i)), f"{path} (image {image_id})")
            for i, image_id in enumerate(root.attrs["image_ids"])]


def open_store(path):
    """Open a store read-only, with an error naming the path when it is not one."""
    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode="r")
        group["X"], group["y"]  # noqa: B018 - fail here, not later
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a faceseg feature store ({exc})") from None
    return group


@dataclass(frozen=True)
class TrainingStoreAttrs:
    """What a merged training store says of itself (its root attributes, written by :func:`merge_stores`)."""

    feature_names: list[str]
    class_names: list[str]
    feature_config: dict
    config_digest: str | None = None
    sampling: dict | None = None
    image_ids: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"image_id", "reason"} of images with no rows
    face_frames: list[dict] = field(default_factory=list)  # per image: where the face sits
    class_pixel_counts: list[int] | None = None  # every pixel of the training images, per class
    class_sample_counts: list[int] | None = None  # the sampled rows, per class
    framing: dict | None = None  # how the images were framed (faceseg.framing.ImageFraming), None: as they are

    @classmethod
    def of(cls, group) -> TrainingStoreAttrs:
        a = group.attrs
        try:
            return cls(list(a["feature_names"]), list(a["class_names"]), dict(a["feature_config"]),
                       a.get("config_digest"), a.get("sampling"), list(a.get("image_ids") or []),
                       list(a.get("skipped") or []), list(a.get("face_frames") or []), a.get("class_pixel_counts"),
                       a.get("class_sample_counts"), a.get("framing"))
        except KeyError as exc:
            where = getattr(group, "store_path", group)
            raise InputError(f"{where}: not a training store (no {exc} attribute)") from None

    @property
    def class_counts(self) -> dict:
        """The class counts the prior correction is computed from (:func:`faceseg.decision.prior_weights`)."""
        return {"class_pixel_counts": self.class_pixel_counts, "class_sample_counts": self.class_sample_counts}


def merge_stores(paths, out_path, chunk_rows: int = CHUNK_ROWS, order=None, only: bool = False) -> dict:
    """Concatenate per-image or shard stores into one chunked store, one image in memory at a time.

    Images are merged in ``order`` (image ids; None: the order of ``paths``
    and of the images inside each), so the merged rows do not depend on how
    the images were sharded; ``only``: the images not in ``order`` are left
    out (a subset of the stores' images, e.g. one head pose's). Skipped images
    (no samples, ``skipped`` set) are listed in the merged store's ``skipped`` attribute. All stores must share
    one feature layout. Returns the merged store's attributes.
    """
    if not paths:
        raise ValueError("merge_stores needs at least one store")
    found = [(where, g) for p in paths for _, g, where in image_groups(p)]
    if order is not None:
        rank = {image_id: i for i, image_id in enumerate(order)}
        ids = [g.attrs.get("image_id") for _, g in found]
        if only:
            found = [f for f, i in zip(found, ids) if i in rank]
            ids = [i for i in ids if i in rank]
        unknown = [i for i in ids if i not in rank]
        if unknown:
            raise ValueError(f"merge_stores: images {unknown[:5]} are not in the given order")
        found = [found[k] for k in sorted(range(len(found)), key=lambda k: rank[ids[k]])]
    paths = [p for p, _ in found]
    groups = [g for _, g in found]
    first = dict(groups[0].attrs)
    for p, g in zip(paths, groups):
        if g.attrs.get("config_digest") != first.get("config_digest") or list(g.attrs["feature_names"]) != list(
            first["feature_names"]
        ):
            raise InputError(f"{p}: its features differ from those of {paths[0]} (config digest or names)")
    kept = [(p, g) for p, g in zip(paths, groups) if g["X"].shape[0] > 0]
    skipped = [
        {"image_id": g.attrs.get("image_id", str(p)), "reason": g.attrs.get("skipped") or "no samples"}
        for p, g in zip(paths, groups)
        if g["X"].shape[0] == 0
    ]
    if not kept:
        raise InputError(f"no training samples: all {len(paths)} images were skipped ({skipped[:3]} ...)")
    n_rows = sum(g["X"].shape[0] for _, g in kept)
    width = groups[0]["X"].shape[1]
    attrs = {k: v for k, v in first.items()
             if k not in ("image_id", "skipped", "image_shape", "class_pixel_counts", "canvas")}
    attrs.update(image_ids=[g.attrs.get("image_id", str(p)) for p, g in kept], skipped=skipped, n_rows=n_rows)
    # Where the face sits in each image (when the features use landmarks): lets
    # a model frame a new photo like its training images.
    attrs.pop("face_frame", None)
    attrs["face_frames"] = [
        {"image_shape": g.attrs["image_shape"], **g.attrs["face_frame"]} for _, g in kept if "face_frame" in g.attrs
    ]
    if all("class_pixel_counts" in g.attrs for _, g in kept):
        attrs["class_pixel_counts"] = np.sum([g.attrs["class_pixel_counts"] for _, g in kept], axis=0).tolist()
    n_classes = len(first["class_names"])
    with atomic_output(out_path) as tmp:
        out = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        arrays = {
            "X": _create(out, "X", n_rows, width, chunk_rows),
            "y": _create(out, "y", n_rows, None, chunk_rows),
            "coords": _create(out, "coords", n_rows, 2, chunk_rows),
            "image_index": _create(out, "image_index", n_rows, None, chunk_rows),
        }
        writer = _ChunkWriter(arrays, chunk_rows)
        sample_counts = np.zeros(n_classes, np.int64)
        for i, (_, g) in enumerate(progress(kept, "merging stores")):
            y = g["y"][:]
            sample_counts += np.bincount(y, minlength=n_classes)[:n_classes]
            writer.add(X=g["X"][:], y=y, coords=g["coords"][:], image_index=np.full(len(y), i, np.int32))
        writer.flush()
        attrs["class_sample_counts"] = sample_counts.tolist()
        out.attrs.update(attrs)
    return attrs


class _ChunkWriter:
    """Buffer rows and write whole chunks, so no chunk is rewritten."""

    def __init__(self, arrays, chunk_rows):
        self.arrays, self.chunk_rows = arrays, chunk_rows
        self.buffer = {k: [] for k in arrays}
        self.buffered = 0
        self.written = 0

    def add(self, **parts):
        for k, v in parts.items():
            self.buffer[k].append(v)
        self.buffered += len(parts["y"])
        if self.buffered >= self.chunk_rows:
            self.flush(whole_chunks_only=True)

    def flush(self, whole_chunks_only=False):
        if not self.buffered:
            return
        data = {k: np.concatenate(v) for k, v in self.buffer.items()}
        n = (self.buffered // self.chunk_rows) * self.chunk_rows if whole_chunks_only else self.buffered
        for k, arr in self.arrays.items():
            arr[self.written : self.written + n] = data[k][:n]
        self.buffer = {k: [v[n:]] for k, v in data.items()}
        self.buffered -= n
        self.written += n


def iter_minibatches(group, batch_size: int, rng: np.random.Generator, chunks_per_buffer: int = 4):
    """Yield shuffled ``(X, y)`` minibatches, reading a few chunks at a time.

    Memory holds ``chunks_per_buffer`` chunks, whatever the store's size: chunk
    order is shuffled, and rows are shuffled within each buffer.
    """
    X, y = group["X"], group["y"]
    n = X.shape[0]
    chunk = X.chunks[0]
    starts = rng.permutation(np.arange(0, n, chunk))
    for i in range(0, len(starts), chunks_per_buffer):
        sel = starts[i : i + chunks_per_buffer]
        xb = np.concatenate([X[s : s + chunk] for s in sel])
        yb = np.concatenate([y[s : s + chunk] for s in sel])
        perm = rng.permutation(len(yb))
        for j in range(0, len(perm), batch_size):
            idx = perm[j : j + batch_size]
            yield xb[idx], yb[idx]


def column_moments(group) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation, streamed chunk by chunk (float64 sums)."""
    X = group["X"]
    n, width = X.shape
    total = np.zeros(width)
    total_sq = np.zeros(width)
    for s in range(0, n, X.chunks[0]):
        block = X[s : s + X.chunks[0]].astype(np.float64)
        total += block.sum(axis=0)
        total_sq += (block * block).sum(axis=0)
    mean = total / n
    var = np.maximum(total_sq / n - mean * mean, 0.0)
    return mean, np.sqrt(var)


def read_rows(group, max_rows: int | None, rng: np.random.Generator):
    """Read all rows, or a uniform random subset of ``max_rows``, one chunk at a time.

    Returns ``(X, y, image_index or None)``; memory is bounded by ``max_rows``.
    """
    X, y = group["X"], group["y"]
    n = X.shape[0]
    has_index = "image_index" in group
    if max_rows is None or n <= max_rows:
        return X[:], y[:], group["image_index"][:] if has_index else None
    keep = np.sort(rng.choice(n, size=max_rows, replace=False))
    chunk = X.chunks[0]
    xs, ys, idx = [], [], []
    for s in range(0, n, chunk):
        local = keep[(keep >= s) & (keep < s + chunk)] - s
        if len(local):
            xs.append(X[s : s + chunk][local])
            ys.append(y[s : s + chunk][local])
            if has_index:
                idx.append(group["image_index"][s : s + chunk][local])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(idx) if has_index else None
