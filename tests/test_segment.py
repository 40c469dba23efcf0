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


def test_colourise_uses_the_palette_and_marks_unsegmented_black():
    palette = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    out = colourise(np.array([[0, 1, 255]], np.uint8), palette)
    assert out.tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 0]]]
