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
