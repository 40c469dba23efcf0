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


def test_guided_filter_moves_a_blurred_boundary_onto_the_image_edge():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = 255  # the image edge is at column 20
    proba = np.zeros((40, 40, 2), np.float32)
    ramp = np.clip((np.arange(40) - 16) / 16 + 0.5, 0, 1)  # class 1 wins from column 16 onwards
    proba[..., 1] = ramp
    proba[..., 0] = 1 - ramp
    plain = labels_from_proba(proba)
    guided = labels_from_proba(proba, image=image, guided_radius=6, guided_eps=1e-3)
    first_class1 = lambda labels: int(np.argmax(labels[20] == 1))  # noqa: E731
    assert first_class1(plain) == 17
    assert abs(first_class1(guided) - 20) <= 1  # within a pixel of the image edge
    assert (guided == guided[:1]).all(), "the same boundary on every row"
