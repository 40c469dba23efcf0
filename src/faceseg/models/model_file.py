"""Model files that open without running code.

A faceseg model file (``.faceseg``) is a zip archive, stored uncompressed, holding

- ``model.json``: what the model is (format, kind, feature and class names,
  parameters, training information, provenance), readable on its own;
- ``arrays.safetensors``: every NumPy array of the checkpoint (the MLP's
  weights and feature standardisation), read by safetensors, which holds
  numbers and nothing else;
- ``estimator.skops``: a scikit-learn estimator (forest, boosting), read by
  skops, which builds scikit-learn's own types and those on
  :data:`TRUSTED_TYPES`, and refuses a file naming any other.

Nothing in it is a pickle, so a file mailed from another lab cannot run code
when it is opened. Pickles (the ``.joblib`` models of earlier versions, or
anything else) are recognised and refused with how to convert one you trust
(``faceseg convert --trust-pickle``, the one caller of :func:`unpickle_trusted`).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from faceseg.io import InputError, atomic_output
from faceseg.paths import MODEL_SUFFIX

#: Types outside scikit-learn's estimators that the project's estimators are made of: the
#: forest's Cython tree and boosting's tree predictor (arrays and numbers only). skops trusts
#: scikit-learn's estimators and NumPy's types itself; anything else in a file is refused.
TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

METADATA, ARRAYS, ESTIMATOR = "model.json", "arrays.safetensors", "estimator.skops"
#: ``model.json`` larger than this is not ours (the largest, a LaPa model's, is a few MB).
MAX_METADATA_BYTES = 64 * 2**20
#: An entry that expands more than this from its stored size is a decompression bomb: ours are stored.
MAX_EXPANSION = 20

_ARRAY_KEY = "__array__"  # in model.json, {"__array__": name} stands for arrays.safetensors[name]
#: How pickles start: protocol 2+ opcode, and the compressed wrappers joblib writes (zlib, gzip, bz2, xz, lzma).
_PICKLE_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00")
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")


class PickleRefusedError(InputError):
    """A pickle was given where a model file was expected: loading it could run any code it holds."""


def _split_arrays(value, arrays: dict, key: str):
    """``value`` with every ndarray replaced by ``{"__array__": key}`` (the array put into ``arrays``)."""
    if isinstance(value, np.ndarray):
        arrays[key] = np.ascontiguousarray(value)
        return {_ARRAY_KEY: key}
    if isinstance(value, dict):
        return {str(k): _split_arrays(v, arrays, f"{key}/{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_split_arrays(v, arrays, f"{key}/{i}") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join_arrays(value, arrays: dict, where: str):
    if isinstance(value, dict):
        if set(value) == {_ARRAY_KEY}:
            name = value[_ARRAY_KEY]
            if name not in arrays:
                raise InputError(f"{where}: {METADATA} names array {name!r}, which {ARRAYS} does not hold")
            return arrays[name]
        return {k: _join_arrays(v, arrays, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, arrays, where) for v in value]
    return value


def save_model_file(path, metadata: dict, estimator=None) -> None:
    """Write ``metadata`` (JSON values and NumPy arrays) and an optional scikit-learn ``estimator``, atomically."""
    import skops.io
    from safetensors.numpy import save as save_arrays

    arrays: dict[str, np.ndarray] = {}
    meta = _split_arrays(metadata, arrays, "")
    meta["has_estimator"] = estimator is not None
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(METADATA, json.dumps(meta, indent=1, allow_nan=True))
        zf.writestr(ARRAYS, save_arrays(arrays) if arrays else b"")
        if estimator is not None:
            zf.writestr(ESTIMATOR, skops.io.dumps(estimator))


def refuse_pickle(path) -> None:
    """Raise :class:`PickleRefusedError` if ``path`` looks like a pickle (by its first bytes or its suffix)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"PK\x03\x04"):
        return
    if head.startswith(_PICKLE_MAGIC) or path.suffix.lower() in _PICKLE_SUFFIXES:
        target = path.with_suffix(MODEL_SUFFIX)
        if target == path:
            target = path.with_name(f"{path.stem}-converted{MODEL_SUFFIX}")
        raise PickleRefusedError(
            f"{path}: a pickle (joblib) file, not a faceseg model file; faceseg does not open pickles, because "
            f"loading one runs whatever code it holds. For a model you made or trust: faceseg convert --trust-pickle "
            f"{path}" + ("" if target == path.with_suffix(MODEL_SUFFIX) else f" -o {target}")
            + f" (writes {target.name}); for a model the workflow made: run the workflow again, which remakes it "
            f"as {MODEL_SUFFIX}"
        )


def _check_expansion(zf: zipfile.ZipFile, where) -> None:
    """Refuse an archive with an entry that expands far beyond its stored size (ours are stored uncompressed)."""
    for entry in zf.infolist():
        if entry.file_size > MAX_EXPANSION * max(entry.compress_size, 1) + 2**20:
            raise InputError(f"{where}: {entry.filename} expands from {entry.compress_size} to {entry.file_size} "
                             "bytes; refused as a decompression bomb (faceseg writes its entries uncompressed)")


def _open(path) -> zipfile.ZipFile:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    refuse_pickle(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: not a faceseg model file ({exc})") from None
    names = set(zf.namelist())
    if METADATA not in names:
        zf.close()
        raise InputError(f"{path}: not a faceseg model file (no {METADATA} inside)")
    try:
        _check_expansion(zf, path)
    except InputError:
        zf.close()
        raise
    if zf.getinfo(METADATA).file_size > MAX_METADATA_BYTES:
        zf.close()
        raise InputError(f"{path}: {METADATA} is over {MAX_METADATA_BYTES >> 20} MB; not a faceseg model file")
    return zf


def _metadata(zf: zipfile.ZipFile, path) -> dict:
    try:
        meta = json.loads(zf.read(METADATA))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {METADATA} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: {METADATA} does not hold a JSON object")
    return meta


def read_metadata(path) -> dict:
    """``model.json`` of a model file, arrays left as references: no estimator is built."""
    with _open(path) as zf:
        return _metadata(zf, path)


def load_model_file(path, with_estimator: bool = True) -> tuple[dict, object]:
    """``(metadata with its arrays, estimator or None)`` of a model file; refuses pickles and untrusted types.

    ``with_estimator=False``: the metadata and arrays only (what a model is, without building its estimator).
    """
    import skops.io
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_arrays
    from skops.io.exceptions import UntrustedTypesFoundException

    with _open(path) as zf:
        meta = _metadata(zf, path)
        raw = zf.read(ARRAYS) if ARRAYS in zf.namelist() else b""
        try:
            arrays = load_arrays(raw) if raw else {}
        except (SafetensorError, ValueError) as exc:
            raise InputError(f"{path}: {ARRAYS} is not a readable safetensors file ({exc})") from None
        estimator = None
        if meta.pop("has_estimator", False) and with_estimator:
            if ESTIMATOR not in zf.namelist():
                raise InputError(f"{path}: no {ESTIMATOR} inside, though {METADATA} says it holds an estimator")
            data = zf.read(ESTIMATOR)
            try:  # a skops file is a zip too: its entries are held to the same bound before skops reads them
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    _check_expansion(inner, f"{path}: {ESTIMATOR}")
            except zipfile.BadZipFile as exc:
                raise InputError(f"{path}: {ESTIMATOR} is not a readable skops file ({exc})") from None
            # skops audits the file's types before it builds anything, and refuses types that are
            # neither its own trusted ones nor on TRUSTED_TYPES.
            try:
                estimator = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
            except UntrustedTypesFoundException as exc:
                raise InputError(f"{path}: {ESTIMATOR} holds types faceseg does not trust, so it was not loaded: "
                                 f"{str(exc).splitlines()[0]}") from None
            except Exception as exc:  # noqa: BLE001 - a file skops cannot read is not ours
                raise InputError(f"{path}: {ESTIMATOR} is not a readable skops file ({type(exc).__name__}: "
                                 f"{exc})") from None
    return _join_arrays(meta, arrays, path), estimator


def unpickle_trusted(path):
    """Unpickle ``path``: runs whatever code the file holds. Only for :func:`convert_pickle`, on a file one trusts."""
    import joblib

    return joblib.load(path)

