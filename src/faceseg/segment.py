"""Full-resolution segmentation in tiles, so memory is bounded whatever the image size."""

from __future__ import annotations

import numpy as np

from faceseg.features import compute_features_tile, feature_names, resolve_config
from faceseg.models import PixelClassifier

#: Label value of pixels that were not segmented (image skipped: no face found).
NOT_SEGMENTED = 255


def segment_image(
    model: PixelClassifier,
    image: np.ndarray,
    landmarks=None,
    tile_size: int = 256,
    threads: int = 1,
    progress=None,
) -> np.ndarray:
    """Label every pixel of ``image``: ``(H, W)`` uint8 class indices.

    Features are computed tile by tile (with the halo the window features
    need), so peak memory grows with ``tile_size**2``, not with the image.
    """
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 16:
        raise ValueError(f"tile_size must be an integer >= 16, got {tile_size!r}")
    config = resolve_config(model.feature_config)
    n_landmarks = None if landmarks is None else len(landmarks)
    model.check_features(feature_names(config, n_landmarks))
    h, w = image.shape[:2]
    labels = np.empty((h, w), dtype=np.uint8)
    tiles = [(r, c) for r in range(0, h, tile_size) for c in range(0, w, tile_size)]
    for r, c in tiles if progress is None else progress(tiles):
        r1, c1 = min(r + tile_size, h), min(c + tile_size, w)
        feats = compute_features_tile(image, config, (r, r1), (c, c1), landmarks)
        labels[r:r1, c:c1] = model.predict(feats.reshape(-1, feats.shape[-1]), threads=threads).reshape(r1 - r, c1 - c)
    return labels


def colourise(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """RGB picture of a label map; unsegmented pixels are black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    return lut[labels]
