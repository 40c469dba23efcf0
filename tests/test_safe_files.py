"""Files anyone can open safely: hostile model files run nothing and are refused naming the file."""

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from faceseg.io import InputError
from faceseg.models import load_model
from faceseg.models.model_file import ARRAYS, ESTIMATOR, METADATA, PickleRefusedError, read_metadata
from faceseg.pose import PoseClassifier


class _RunsACommand:
    """Unpickling this runs a shell command that makes a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _hostile_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"format": "faceseg-model", "estimator": _RunsACommand(marker)}))
    return path


def _faceseg(*args, cwd=None):
    exe = Path(sys.executable).with_name("faceseg")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("suffix", [".faceseg", ".joblib", ".pkl", ""])
def test_a_hostile_pickle_runs_nothing_anywhere_a_model_is_opened(tmp_path, suffix, tiny_model, fasseg_root):
    from faceseg.steps import segmentation

    marker = tmp_path / "ran"
    evil = _hostile_pickle(tmp_path / f"rf{suffix}", marker)
    # The file really is hostile: plain pickle.load would run the command.
    with open(evil, "rb") as f:
        pickle.load(f)
    assert marker.exists()
    marker.unlink()

    photo = fasseg_root / "V1" / "Test_RGB" / "1.png"
    for proc in (_faceseg("info", evil), _faceseg("segment", photo, "--model", evil, "-o", tmp_path / "out")):
        assert proc.returncode == 2, proc.stderr
        assert f"{evil}: a pickle" in proc.stderr and "faceseg convert --trust-pickle" in proc.stderr
    for load in (load_model, PoseClassifier.load, read_metadata):
        with pytest.raises(PickleRefusedError, match=f"{evil}: a pickle"):
            load(evil)
    # The workflow's segmentation rule opens its model the same way.
    with pytest.raises(PickleRefusedError, match=f"{evil}: a pickle"):
        segmentation.segment_shard(evil, "fasseg", [{"image_id": "1", "image": photo, "landmarks": None}],
                                   tmp_path / "proba.zarr")
    assert not marker.exists()
    assert not (tmp_path / "out").exists() and not (tmp_path / "proba.zarr").exists()


def test_a_hostile_pickle_inside_a_model_file_runs_nothing(tmp_path, tiny_model):
    """A zip laid out as a model file whose estimator entry is a pickle, or a skops file naming os.system."""
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "ran"
    with zipfile.ZipFile(tiny_model) as zf:
        meta = zf.read(METADATA)
    for name, estimator in (("pickled.faceseg", pickle.dumps(_RunsACommand(marker))),
                            ("untrusted.faceseg", skops.io.dumps(FunctionTransformer(func=os.system)))):
        crafted = tmp_path / name
        with zipfile.ZipFile(crafted, "w") as zf:
            zf.writestr(METADATA, meta)
            zf.writestr(ARRAYS, b"")
            zf.writestr(ESTIMATOR, estimator)
        with pytest.raises(InputError, match=f"{crafted}: {ESTIMATOR}") as err:
            load_model(crafted)
        assert "system" in str(err.value) or "not a readable skops file" in str(err.value)
        proc = _faceseg("segment", tmp_path / "any.png", "--model", crafted, "-o", tmp_path / "out")
        assert proc.returncode == 2 and f"{crafted}: {ESTIMATOR}" in proc.stderr
    assert not marker.exists()


def test_a_model_file_that_expands_like_a_bomb_is_refused(tmp_path, tiny_model):
    bomb = tmp_path / "bomb.faceseg"
    with zipfile.ZipFile(tiny_model) as zf:
        meta = zf.read(METADATA)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA, meta)
        zf.writestr(ARRAYS, b"\0" * (200 * 2**20))  # 200 MB of zeros, stored in about 200 kB
    assert bomb.stat().st_size < 2**20
    with pytest.raises(InputError, match=f"{bomb}: {ARRAYS} expands from .* decompression bomb"):
        load_model(bomb)
    # The estimator's skops file is a zip of its own: a bomb inside it is refused before skops reads it.
    import io

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.json", "{}")
        zf.writestr("0.npy", b"\0" * (200 * 2**20))
    nested = tmp_path / "nested.faceseg"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr(METADATA, meta)
        zf.writestr(ARRAYS, b"")
        zf.writestr(ESTIMATOR, inner.getvalue())
    with pytest.raises(InputError, match=f"{nested}: {ESTIMATOR}: 0.npy expands from .* decompression bomb"):
        load_model(nested)


def test_model_files_hold_no_pickle_and_info_reads_metadata_alone(tmp_path, tiny_model):
    with zipfile.ZipFile(tiny_model) as zf:
        assert sorted(zf.namelist()) == sorted([METADATA, ARRAYS, ESTIMATOR])
        assert all(e.compress_type == zipfile.ZIP_STORED for e in zf.infolist())
        meta = json.loads(zf.read(METADATA))
    assert meta["kind"] == "rf" and meta["has_estimator"]
    # faceseg info reads model.json only: it works with the estimator entry removed.
    stripped = tmp_path / "results/models/fasseg/tiny/rf.faceseg"
    stripped.parent.mkdir(parents=True)
    with zipfile.ZipFile(tiny_model) as src, zipfile.ZipFile(stripped, "w") as dst:
        for name in (METADATA, ARRAYS):
            dst.writestr(name, src.read(name))
    proc = _faceseg("info", stripped, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "rf"
    with pytest.raises(InputError, match=f"no {ESTIMATOR} inside"):
        load_model(stripped)


def test_convert_needs_trust_and_gives_the_same_model(tmp_path, tiny_model):
    """A format-1 model (a joblib pickle of the checkpoint) converts only with --trust-pickle, to the same model."""
    import joblib

    from faceseg.models.classifier import FORMAT

    model = load_model(tiny_model)
    old = tmp_path / "rf.joblib"
    joblib.dump({**model._checkpoint(), "format_version": 1, "estimator": model.estimator}, old)
    refused = _faceseg("convert", old)
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr
    assert not (tmp_path / "rf.faceseg").exists()
    proc = _faceseg("convert", "--trust-pickle", old)
    assert proc.returncode == 0, proc.stderr
    again = load_model(tmp_path / "rf.faceseg")
    assert read_metadata(tmp_path / "rf.faceseg")["format"] == FORMAT
    X = np.random.default_rng(0).random((500, len(model.feature_names)), dtype=np.float32)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.feature_names == model.feature_names and again.info == model.info


def test_pose_classifier_round_trip_and_convert(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    clf = PoseClassifier("maps", ["-15", "0", "+15"], n_estimators=5, seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    clf.forest = RandomForestClassifier(5, random_state=1).fit(X, y)
    clf.cv = {"maps": {"accuracy": 0.5, "mae_deg": 7.5}}
    clf.cv_predictions = {"maps": {"a": "0", "b": None}}
    clf.save(tmp_path / "c.faceseg")
    again = PoseClassifier.load(tmp_path / "c.faceseg")
    assert (again.kind, again.poses, again.cv, again.cv_predictions) == (clf.kind, clf.poses, clf.cv,
                                                                         clf.cv_predictions)
    assert np.array_equal(again.forest.predict_proba(X), clf.forest.predict_proba(X))
    with pytest.raises(InputError, match="c.faceseg: not a faceseg model file"):
        load_model(tmp_path / "c.faceseg")
    # An earlier version's pickled classifier converts with --trust-pickle.
    import joblib

    joblib.dump(clf, tmp_path / "old.joblib")
    proc = _faceseg("convert", "--trust-pickle", tmp_path / "old.joblib", "-o", tmp_path / "new.faceseg")
    assert proc.returncode == 0, proc.stderr
    assert PoseClassifier.load(tmp_path / "new.faceseg").cv == clf.cv


# -- bounded expansion: archives, images, landmark files ---------------------------------------------------------

def test_an_archive_entry_leaving_the_target_writes_nothing(tmp_path):
    from faceseg.download import extract_fasseg_archive

    for bad in ("../escaped.txt", "FASSEG-repository-master/../../escaped.txt", "/tmp/escaped-abs.txt"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("FASSEG-repository-master/V1/Train_RGB/1.bmp", b"first, so a naive extractor writes it")
            zf.writestr(bad, "escaped")
        with pytest.raises(InputError, match=r"evil.zip: entry .* outside the target folder; nothing extracted"):
            extract_fasseg_archive(archive, tmp_path / "out" / "fasseg")
        assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out" / "escaped.txt").exists()
        assert not Path("/tmp/escaped-abs.txt").exists()
        assert not (tmp_path / "out" / "fasseg").exists()


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    from faceseg.download import MAX_ARCHIVE_BYTES, extract_fasseg_archive

    bomb = tmp_path / "bomb.zip"
    chunk = b"\0" * (64 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("FASSEG-repository-master/V1/Train_RGB/1.bmp", "w", force_zip64=True) as entry:
            for _ in range(MAX_ARCHIVE_BYTES // len(chunk) + 1):
                entry.write(chunk)
    assert bomb.stat().st_size < 10 << 20  # over 4 GiB expanding from a few MB
    with pytest.raises(InputError, match=r"bomb.zip: expands to more than 4.0 GiB .* nothing extracted"):
        extract_fasseg_archive(bomb, tmp_path / "out" / "fasseg")
    assert not (tmp_path / "out" / "fasseg").exists()
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def _png_bomb(path: Path, side: int) -> Path:
    """A valid 1-bit PNG of ``side`` x ``side`` pixels, all zero: a few hundred kB that decode to gigapixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then the packed bits
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_image_is_refused_with_bounded_memory(tmp_path, tiny_model):
    bomb = _png_bomb(tmp_path / "bomb.png", 60_000)  # 3.6 gigapixels: 10.8 GB as RGB
    assert bomb.stat().st_size < 2 << 20
    # In a process that may not use more than 1.5 GB of address space beyond what it has after importing:
    # decoding the image would fail with MemoryError there, so a clean refusal shows nothing was decoded.
    code = (
        "import resource, sys\n"
        "from faceseg.io import read_image, read_label_image, InputError\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + (1536 << 20), resource.RLIM_INFINITY))\n"
        "for read in (read_image, read_label_image):\n"
        "    try:\n"
        "        read(sys.argv[1])\n"
        "    except InputError as exc:\n"
        "        print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0] == (f"{bomb}: 60000x60000 image (3600 MP) is over the 150 MP budget; not decoded "
                        "(FACESEG_MAX_IMAGE_PIXELS raises it)")
    assert lines[1].startswith(f"{bomb}: 60000x60000 label image (3600 MP) is over the 150 MP budget")
    # faceseg segment says the same, naming the photo, and writes nothing.
    proc = _faceseg("segment", bomb, "--model", tiny_model, "-o", tmp_path / "out", "--no-cnn")
    assert proc.returncode == 1 and f"{bomb}: 60000x60000 image (3600 MP) is over the 150 MP budget" in proc.stderr
    assert not list((tmp_path / "out").glob("*"))


def test_the_pixel_budget_passes_a_large_photo_and_is_configurable(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (6144, 6144), (200, 180, 160)).save(big)
    from faceseg.io import read_image

    assert read_image(big).shape == (6144, 6144, 3)
    code = ("import sys; from faceseg.io import read_image\ntry:\n    read_image(sys.argv[1])\n"
            "except ValueError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(big)], capture_output=True, text=True,
                          env={**os.environ, "FACESEG_MAX_IMAGE_PIXELS": "20000000"})
    assert proc.stdout.strip() == (f"{big}: 6144x6144 image (38 MP) is over the 20 MP budget; not decoded "
                                   "(FACESEG_MAX_IMAGE_PIXELS raises it)")


def test_an_oversized_landmark_file_is_refused_unread(tmp_path):
    from faceseg.io import MAX_LANDMARK_FILE_BYTES, read_landmarks

    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.write(b"106\n")
        f.truncate(8 << 30)  # 8 GB, sparse: reading it whole would fill the memory
    with pytest.raises(InputError, match=rf"huge.txt: {8 << 30} bytes, too large for a landmark file \(at most "
                                         rf"{MAX_LANDMARK_FILE_BYTES} bytes"):
        read_landmarks(huge)


def test_the_workflows_array_files_hold_no_pickle_either(tmp_path):
    """Label atlases and pose evidence (.npz) are read without unpickling: an object array in one runs nothing."""
    from faceseg.atlas import load_label_atlas

    marker = tmp_path / "ran"
    evil = np.empty(1, dtype=object)
    evil[0] = _RunsACommand(marker)
    for name in ("label_atlas.npz", "person01.npz"):
        np.savez(tmp_path / name, format=evil, poses=evil, class_names=evil, image_ids=evil, ids=evil)
    with pytest.raises(InputError, match="label_atlas.npz: not a faceseg label atlas"):
        load_label_atlas(tmp_path / "label_atlas.npz")
    from faceseg.pose import PoseEvidence

    with pytest.raises(ValueError, match="allow_pickle=False"):
        PoseEvidence.load([tmp_path / "person01.npz"])
    assert not marker.exists()
