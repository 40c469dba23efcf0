import numpy as np
import pytest

from faceseg.io import InputError
from faceseg.store import (
    column_moments,
    iter_minibatches,
    merge_stores,
    open_store,
    read_rows,
    write_sample_store,
)


def attrs(names, image_id, digest="d1", skipped=None):
    return {"feature_names": names, "class_names": ["a", "b"], "feature_config": {}, "config_digest": digest,
            "image_id": image_id, "skipped": skipped}


def make_store(path, n, image_id, rng, digest="d1", width=3):
    X = rng.normal(size=(n, width)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.uint8)
    coords = rng.integers(0, 50, (n, 2)).astype(np.int32)
    write_sample_store(path, X, y, coords, attrs([f"f{i}" for i in range(width)], image_id, digest), chunk_rows=64)
    return X, y


def test_store_roundtrip_is_zarr_v3_and_chunked(tmp_path, rng):
    X, y = make_store(tmp_path / "a.zarr", 200, "a", rng)
    g = open_store(tmp_path / "a.zarr")
    assert g.metadata.zarr_format == 3
    assert g["X"].chunks == (64, 3)
    np.testing.assert_array_equal(g["X"][:], X)
    np.testing.assert_array_equal(g["y"][:], y)
    assert g.attrs["image_id"] == "a"


def test_merge_concatenates_and_lists_skipped(tmp_path, rng):
    xa, ya = make_store(tmp_path / "a.zarr", 100, "a", rng)
    xb, yb = make_store(tmp_path / "b.zarr", 30, "b", rng)
    write_sample_store(tmp_path / "c.zarr", np.zeros((0, 3)), [], np.zeros((0, 2)),
                       attrs(["f0", "f1", "f2"], "c", skipped="no face"))
    merged = merge_stores([tmp_path / p for p in ("a.zarr", "b.zarr", "c.zarr")], tmp_path / "m.zarr", chunk_rows=64)
    g = open_store(tmp_path / "m.zarr")
    np.testing.assert_array_equal(g["X"][:], np.concatenate([xa, xb]))
    np.testing.assert_array_equal(g["y"][:], np.concatenate([ya, yb]))
    assert g["image_index"][:].tolist() == [0] * 100 + [1] * 30
    assert merged["skipped"] == [{"image_id": "c", "reason": "no face"}]
    assert g.attrs["image_ids"] == ["a", "b"]


def test_merge_refuses_mixed_features_and_writes_nothing(tmp_path, rng):
    make_store(tmp_path / "a.zarr", 10, "a", rng, digest="d1")
    make_store(tmp_path / "b.zarr", 10, "b", rng, digest="d2")
    with pytest.raises(InputError, match=r"b.zarr: its features differ"):
        merge_stores([tmp_path / "a.zarr", tmp_path / "b.zarr"], tmp_path / "m.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr", "b.zarr"]


def test_open_store_names_the_path(tmp_path):
    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(InputError, match=r"x.zarr: not a faceseg feature store"):
        open_store(tmp_path / "x.zarr")


def test_minibatches_visit_every_row_once_per_epoch(tmp_path, rng):
    X, _ = make_store(tmp_path / "a.zarr", 500, "a", rng)
    g = open_store(tmp_path / "a.zarr")
    seen = np.concatenate([xb for xb, _ in iter_minibatches(g, 50, np.random.default_rng(1), chunks_per_buffer=2)])
    assert seen.shape == X.shape
    np.testing.assert_array_equal(np.sort(seen[:, 0]), np.sort(X[:, 0]))
    assert not np.array_equal(seen, X), "rows are shuffled"


def test_read_rows_cap_and_moments(tmp_path, rng):
    X, _ = make_store(tmp_path / "a.zarr", 500, "a", rng)
    g = open_store(tmp_path / "a.zarr")
    xs, ys, _ = read_rows(g, 120, np.random.default_rng(0))
    assert xs.shape == (120, 3) and len(ys) == 120
    assert len({tuple(r) for r in xs}) == 120
    mean, std = column_moments(g)
    np.testing.assert_allclose(mean, X.mean(0), atol=1e-6)
    np.testing.assert_allclose(std, X.std(0), atol=1e-5)
