import numpy as np
import pytest

from faceseg.segment import colourise, labels_from_proba


def test_smoothing_removes_isolated_pixels():
    proba = np.zeros((21, 21, 2), np.float32)
    proba[..., 0] = 0.9
    proba[..., 1] = 0.1
    proba[10, 10] = (0.2, 0.8)  # one pixel voting for class 1
    assert labels_from_proba(proba)[10, 10] == 1
    assert labels_from_proba(proba, smooth_sigma=2)[10, 10] == 0
    with pytest.raises(ValueError, match="smooth_sigma must be >= 0"):
        labels_from_proba(proba, -1)


def test_class_bias_weighs_each_class_before_the_arg_max():
    proba = np.array([[[0.6, 0.4], [0.45, 0.55]]], np.float32)
    assert labels_from_proba(proba).tolist() == [[0, 1]]
    assert labels_from_proba(proba, class_bias=[1.0, 0.5]).tolist() == [[0, 0]]
    assert labels_from_proba(proba, class_bias=[0.5, 1.0]).tolist() == [[1, 1]]


def test_colourise_uses_the_palette_and_marks_unsegmented_black():
    palette = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    out = colourise(np.array([[0, 1, 255]], np.uint8), palette)
    assert out.tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 0]]]


def test_upsample_grid_keeps_grid_values_and_interpolates_between():
    from faceseg.segment import upsample_grid

    grid = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)  # 6 classes: warpAffine's 4-channel limit
    out = upsample_grid(grid, 2, (8, 9))
    assert out.shape == (8, 9, 6)
    np.testing.assert_allclose(out[::2, ::2], grid, rtol=1e-6)
    np.testing.assert_allclose(out[1, 2], (grid[0, 1] + grid[1, 1]) / 2, rtol=1e-4)
    np.testing.assert_allclose(out[3, 3], grid[1:3, 1:3].mean(axis=(0, 1)), rtol=1e-4)
    np.testing.assert_allclose(out[7, 8], grid[3, 4], rtol=1e-6)  # past the last grid row/column: replicated


def test_strided_prediction_is_exact_on_the_grid(tiny_model, fasseg_root):
    from faceseg.io import read_image, read_landmarks
    from faceseg.models import load_model
    from faceseg.segment import predict_proba_image

    model = load_model(tiny_model)
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    landmarks = read_landmarks(tiny_model.parents[3].parent / "1.txt", image.shape, n_points=68)
    full = predict_proba_image(model, image, landmarks, tile_size=128)
    strided = predict_proba_image(model, image, landmarks, tile_size=128, stride=2)
    assert strided.shape == full.shape
    np.testing.assert_allclose(strided[::2, ::2], full[::2, ::2], atol=1e-6)
    agree = (strided.argmax(-1) == full.argmax(-1)).mean()
    assert agree > 0.95, f"only {agree:.3f} of the pixels keep their class"
    with pytest.raises(ValueError, match=r"stride must be an integer from 1 to 8 that divides tile_size \(128\), got"):
        predict_proba_image(model, image, landmarks, tile_size=128, stride=3)


def test_tiles_in_parallel_equal_tiles_one_by_one(tiny_model, fasseg_root):
    from faceseg.io import read_image, read_landmarks
    from faceseg.models import load_model
    from faceseg.segment import predict_proba_image

    model = load_model(tiny_model)
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "2.png")
    landmarks = read_landmarks(tiny_model.parents[3].parent / "2.txt", image.shape, n_points=68)
    serial = predict_proba_image(model, image, landmarks, tile_size=128, threads=1, stride=2)
    parallel = predict_proba_image(model, image, landmarks, tile_size=128, threads=3, stride=2)
    np.testing.assert_array_equal(parallel, serial)


def test_strided_tile_features_equal_the_dense_pass_on_the_grid(rng):
    from faceseg.features import compute_features, compute_features_tile

    image = rng.integers(0, 256, (50, 61, 3), dtype=np.uint8)
    points = rng.uniform([10, 8], [50, 40], (68, 2))
    config = {"colour": {"mean_sizes": [5]}, "location": {}, "hog": {"cell_sizes": [8]},
              "patch_histogram": {"patch_sizes": [8], "bins": 4}, "landmarks": {}}
    dense = compute_features(image, config, landmarks=points)
    tile = compute_features_tile(image, config, (10, 41), (3, 60), points, stride=3)
    assert tile.shape[:2] == (11, 19)
    np.testing.assert_allclose(tile, dense[10:41:3, 3:60:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stride", [2, 4])
@pytest.mark.parametrize("rows, cols", [((0, 37), (0, 70)), ((9, 50), (13, 77)), ((44, 71), (50, 90))])
def test_strided_windows_from_block_sums_equal_the_dense_pass(rng, stride, rows, cols):
    # Window sides that are multiples of the stride take the block-sum path
    # (test_block_sum_path_is_taken); tiles at the image's corners and inside it.
    from faceseg.features import compute_features, compute_features_tile

    image = rng.integers(0, 256, (71, 90, 3), dtype=np.uint8)
    config = {"colour": {"spaces": ["hsv"], "mean_sizes": [4 * stride]}, "hog": {"cell_sizes": [stride, 4 * stride]},
              "patch_histogram": {"patch_sizes": [2 * stride, 6 * stride], "bins": 4}}
    dense = compute_features(image, config)
    tile = compute_features_tile(image, config, rows, cols, stride=stride)
    np.testing.assert_allclose(tile, dense[rows[0]:rows[1]:stride, cols[0]:cols[1]:stride], rtol=1e-5, atol=2e-5)


def test_block_sum_path_is_taken(rng):
    from faceseg.features._context import PixelContext

    image = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    plane = rng.random((40, 52)).astype(np.float32)
    ys, xs = np.mgrid[3:37:4, 5:50:4]
    grid = PixelContext(image, ys.ravel(), xs.ravel(), rect=(3, 37, 5, 50, 4))
    assert grid._grid_box_mean("p", lambda: plane, 12, np.empty((ys.size, 1), np.float32)) is not None
    assert grid._grid_box_mean("p", lambda: plane, 10, np.empty((ys.size, 1), np.float32)) is None  # not whole blocks
    gathered = PixelContext(image, ys.ravel(), xs.ravel())
    for size in (4, 8, 12, 10):
        expected = gathered.box_mean("p", lambda: plane, size, np.empty((ys.size, 1), np.float32))
        got = grid.box_mean("p", lambda: plane, size, np.empty((ys.size, 1), np.float32))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_box_mean_is_computed_once_per_key_and_size(rng):
    from faceseg.features._context import PixelContext

    image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    plane = rng.random((20, 24)).astype(np.float32)
    ys, xs = np.mgrid[0:20, 0:24]
    ctx = PixelContext(image, ys.ravel(), xs.ravel(), rect=(0, 20, 0, 24, 1))
    first = ctx.box_mean("p", lambda: plane, 5, np.empty((ys.size, 1), np.float32))

    def not_again():
        raise AssertionError("the planes were read again")

    again = ctx.box_mean("p", not_again, 5, np.empty((ys.size, 1), np.float32))
    np.testing.assert_array_equal(again, first)
    assert again is not first  # a copy in the caller's array
    other = ctx.box_mean("p", lambda: plane, 9, np.empty((ys.size, 1), np.float32))  # another size: computed
    assert not np.allclose(other, first)
