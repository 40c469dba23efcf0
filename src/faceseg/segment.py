"""Full-resolution segmentation in tiles, so memory is bounded whatever the image size."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from faceseg.decision import apply_class_weights, labels_from_proba, smoothed
from faceseg.features import compute_features_tile, feature_names, needs_landmarks, resolve_config
from faceseg.framing import Canvas, ImageFraming, warp_maps
from faceseg.models import PixelClassifier

#: Label value of pixels that were not segmented (image skipped: no face found).
NOT_SEGMENTED = 255


def predict_proba_image(
    model: PixelClassifier,
    image: np.ndarray,
    landmarks=None,
    tile_size: int = 256,
    threads: int = 1,
    progress=None,
    apply_prior: bool = True,
    stride: int = 1,
) -> np.ndarray:
    """Class probabilities of every pixel: ``(H, W, n_classes)`` float32.

    ``stride`` > 1 classifies every ``stride``-th pixel of every ``stride``-th
    row (:func:`predict_proba_grid`) and interpolates the probabilities
    bilinearly in between (about ``stride**2`` times less feature and model
    work); the grid pixels keep their exact probabilities.
    """
    grid = predict_proba_grid(model, image, landmarks, tile_size, threads, progress, apply_prior, stride)
    return grid if stride == 1 else upsample_grid(grid, stride, image.shape[:2])


def proba_from_grid(grid: np.ndarray, stride: int, shape, class_weights=None) -> np.ndarray:
    """Full-resolution probabilities from class-balanced grid posteriors (what a segmentation job stores).

    The prior correction (``class_weights``, see :func:`~faceseg.decision.prior_weights`)
    is applied on the grid, then the grid is interpolated: the same order,
    and so the same numbers, as :func:`predict_proba_image` with the prior.
    A framed image's grid lies on its canvas: see :func:`decision_proba`.
    """
    if class_weights is not None:
        grid = apply_class_weights(grid, class_weights)
    return grid if stride == 1 else upsample_grid(grid, stride, shape)


def decision_proba(grid: np.ndarray, stride: int, shape, class_weights=None, canvas: Canvas | None = None,
                   smooth_sigma: float = 0.0, step: int = 1) -> np.ndarray:
    """Prior-corrected probabilities at every image pixel, smoothed with ``smooth_sigma`` canvas pixels.

    The image as it is (``canvas`` None or whole): :func:`proba_from_grid`,
    then the smoothing. A framed image: the grid is interpolated over its
    canvas, smoothed there (the scale the models were trained at, and a cost
    that does not grow with the image) and read at the image's pixels.
    ``step`` > 1: at every ``step``-th pixel of every ``step``-th row only.
    """
    return smoothed_at_image(canvas_proba(grid, stride, shape, class_weights, canvas), canvas, smooth_sigma, step)


def canvas_proba(grid: np.ndarray, stride: int, shape, class_weights=None, canvas: Canvas | None = None) -> np.ndarray:
    """:func:`decision_proba`'s first half: prior-corrected probabilities at every canvas pixel."""
    whole = canvas is None or canvas.is_whole
    return proba_from_grid(grid, stride, shape if whole else canvas.size[::-1], class_weights)


def smoothed_at_image(on_canvas: np.ndarray, canvas: Canvas | None, smooth_sigma: float, step: int = 1) -> np.ndarray:
    """:func:`decision_proba`'s second half: smoothed on the canvas, read at the image's pixels."""
    if canvas is None or canvas.is_whole:
        return smoothed(on_canvas, smooth_sigma)[::step, ::step]
    return canvas.image_maps(smoothed(on_canvas, smooth_sigma), 1, step)


def model_canvas(model: PixelClassifier, image_shape, landmarks) -> Canvas:
    """Where a model sees an image: its training framing (``info["framing"]``) put on the face, else the image."""
    framer = ImageFraming.of(model.info.get("framing"))
    if framer is None or landmarks is None:
        return Canvas.whole(image_shape)
    return framer.canvas(image_shape, landmarks)


def framed_grid(model: PixelClassifier, image, landmarks=None, tile_size: int = 256, threads: int = 1, progress=None,
                apply_prior: bool = True, stride: int = 1) -> tuple[np.ndarray, Canvas]:
    """:func:`predict_proba_grid` on the image's canvas (:func:`model_canvas`): ``(grid, canvas)``.

    The grid covers the canvas; :func:`decision_proba` with the canvas reads
    it at the image's pixels.
    """
    canvas = model_canvas(model, image.shape, landmarks)
    return canvas_grid(model, canvas.picture(image), canvas, landmarks, tile_size, threads, progress, apply_prior,
                       stride), canvas


def canvas_grid(model: PixelClassifier, picture, canvas: Canvas, landmarks=None, tile_size: int = 256,
                threads: int = 1, progress=None, apply_prior: bool = True, stride: int = 1) -> np.ndarray:
    """:func:`predict_proba_grid` of a canvas's ``picture`` (:meth:`Canvas.picture`); ``landmarks`` in image pixels."""
    points = canvas.points(landmarks) if needs_landmarks(model.feature_config) else None
    return predict_proba_grid(model, picture, points, tile_size, threads, progress, apply_prior, stride,
                              canvas.location_map())


def predict_proba_grid(
    model: PixelClassifier,
    image: np.ndarray,
    landmarks=None,
    tile_size: int = 256,
    threads: int = 1,
    progress=None,
    apply_prior: bool = True,
    stride: int = 1,
    location_map=None,
) -> np.ndarray:
    """Class probabilities of every ``stride``-th pixel of every ``stride``-th row.

    Shape ``(ceil(H / stride), ceil(W / stride), n_classes)``.

    Features are computed tile by tile (with the halo the window features
    need), so feature memory grows with ``tile_size**2``, not with the image.
    ``location_map``: see :func:`~faceseg.features.compute_features_tile`.
    """
    return predict_proba_grids([model], image, landmarks, tile_size, threads, progress, apply_prior, stride,
                               location_map)[0]


def predict_proba_grids(
    models: list[PixelClassifier],
    image: np.ndarray,
    landmarks=None,
    tile_size: int = 256,
    threads: int = 1,
    progress=None,
    apply_prior: bool = True,
    stride: int = 1,
    location_map=None,
) -> np.ndarray:
    """:func:`predict_proba_grid` of several models with one feature configuration: ``(models, rows, cols, classes)``.

    Each tile's features are computed once and classified by every model (the
    per-pose models of :mod:`faceseg.pose`).
    """
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 16:
        raise ValueError(f"tile_size must be an integer >= 16, got {tile_size!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= 8 or tile_size % stride:
        raise ValueError(f"stride must be an integer from 1 to 8 that divides tile_size ({tile_size}), got {stride!r}")
    if not models:
        raise ValueError("predict_proba_grids needs at least one model")
    first = models[0]
    config = resolve_config(first.feature_config)
    for other in models[1:]:
        if other.feature_names != first.feature_names or other.class_names != first.class_names:
            raise ValueError("predict_proba_grids: the models differ in their features or classes")
    n_landmarks = None if landmarks is None else len(landmarks)
    first.check_features(feature_names(config, n_landmarks))
    h, w = image.shape[:2]
    gh, gw = -(-h // stride), -(-w // stride)  # grid rows and columns
    grid = np.empty((len(models), gh, gw, len(first.class_names)), dtype=np.float32)
    tiles = [(r, c) for r in range(0, h, tile_size) for c in range(0, w, tile_size)]

    def classify_tile(tile, threads_per_tile):
        r, c = tile
        r1, c1 = min(r + tile_size, h), min(c + tile_size, w)
        feats = compute_features_tile(image, config, (r, r1), (c, c1), landmarks, stride=stride,
                                      atlas=first.label_atlas, location_map=location_map)
        rows = feats.reshape(-1, feats.shape[-1])
        for k, model in enumerate(models):
            p = model.predict_proba(rows, threads=threads_per_tile, apply_prior=apply_prior)
            grid[k, r // stride : r // stride + feats.shape[0], c // stride : c // stride + feats.shape[1]] = (
                p.reshape(feats.shape[0], feats.shape[1], -1))

    todo = tiles if progress is None else progress(tiles)
    if threads > 1 and len(tiles) > 1:
        # Tiles in parallel, each single-threaded: feature extraction is mostly
        # single-threaded NumPy/OpenCV work that releases the GIL, so this uses
        # every core for features and prediction alike.
        with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(lambda tile: classify_tile(tile, None), todo):
                pass
    else:
        for tile in todo:
            classify_tile(tile, threads)
    return grid


def upsample_grid(grid: np.ndarray, stride: int, shape) -> np.ndarray:
    """Bilinear interpolation of per-class maps known at pixels ``(i * stride, j * stride)`` to every pixel."""
    # Inverse map: output pixel (x, y) reads the grid at (x / stride, y / stride), so grid
    # values land exactly on their pixels (cv2.resize would shift them by half a pixel).
    return warp_maps(grid, np.array([[1.0 / stride, 0, 0], [0, 1.0 / stride, 0]]), shape)


def segment_image(model: PixelClassifier, image, landmarks=None, tile_size: int = 256, threads: int = 1,
                  progress=None, stride: int = 1) -> np.ndarray:
    """Label every pixel of ``image``: ``(H, W)`` uint8 class indices.

    Uses the model's ``smooth_sigma`` (0: plain per-pixel arg-max).
    """
    proba = predict_proba_image(model, image, landmarks, tile_size, threads, progress, stride=stride)
    return model_labels(model, proba)


def model_labels(model: PixelClassifier, proba: np.ndarray) -> np.ndarray:
    """Labels from prior-corrected probabilities with the model's own smoothing and class bias."""
    return labels_from_proba(proba, model.decision["smooth_sigma"], model.decision_bias)


def colourise(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """RGB picture of a label map; unsegmented pixels are black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    return lut[labels]
