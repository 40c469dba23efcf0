import numpy as np
import pytest

from faceseg.io import (
    InputError,
    NoFaceError,
    atomic_output,
    read_landmarks,
    write_landmarks,
)


def test_landmark_roundtrip(tmp_path):
    pts = np.array([[1.5, 2.25], [3.0, 4.0]])
    write_landmarks(tmp_path / "a.txt", pts)
    np.testing.assert_allclose(read_landmarks(tmp_path / "a.txt", (10, 10)), pts)


def test_no_face_file_keeps_the_reason(tmp_path):
    write_landmarks(tmp_path / "a.txt", None, "no face found by the dlib HOG and CNN detectors")
    with pytest.raises(NoFaceError, match="no face found by the dlib HOG and CNN detectors"):
        read_landmarks(tmp_path / "a.txt")


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("3\n1 1\n2 2\n3 3\n", {"n_points": 106}, "expected 106 landmarks, the file declares 3"),
        ("3\n1 1\n2 2\n", {}, "declares 3 points but has 2 point lines"),
        ("2\n1 1\n2 abc\n", {}, "non-numeric landmark value"),
        ("x\n1 1\n", {}, "first line must be the point count"),
        ("2\n1 1\n2 2 2\n", {}, "exactly two numbers"),
        ("2\n1 1\n500 2\n", {"image_shape": (100, 100)},
         r"1 landmark\(s\) outside the 100x100 image, first is point 1"),
        ("", {}, "empty landmark file"),
    ],
)
def test_bad_landmark_files(tmp_path, text, kwargs, message):
    path = tmp_path / "lm.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_landmarks(path, **kwargs)
    assert "lm.txt" in str(err.value)


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_atomic_output_removes_what_a_killed_attempt_left(tmp_path):
    stale = tmp_path / ".out.zarr.tmp-deadbeef"
    (stale / "X").mkdir(parents=True)
    other = tmp_path / ".other.zarr.tmp-deadbeef"
    other.mkdir()
    with atomic_output(tmp_path / "out.zarr") as tmp:
        tmp.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.zarr.tmp-deadbeef", "out.zarr"]
