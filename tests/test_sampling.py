import numpy as np
import pytest

from faceseg.sampling import balanced_sample, class_quotas, image_rng, sample_pixels


def test_quotas_share_evenly_and_refill():
    assert class_quotas([1000, 1000, 1000], 300).tolist() == [100, 100, 100]
    # class 1 has only 10 pixels: its shortfall goes to the others
    assert class_quotas([1000, 10, 1000], 300).tolist() == [145, 10, 145]
    assert class_quotas([5, 0, 3], 100).tolist() == [5, 0, 3]
    assert class_quotas([1000, 1000], 301).sum() == 301


def test_balanced_sample_is_balanced_and_unique(rng):
    labels = np.zeros((100, 100), np.uint8)
    labels[10:14, 10:14] = 1  # 16 pixels of a small class
    labels[50:, :] = 2
    coords = balanced_sample(labels, 300, 3, rng)
    assert len(coords) == 300
    assert len({tuple(c) for c in coords}) == 300
    counts = np.bincount(labels[coords[:, 0], coords[:, 1]], minlength=3)
    assert counts[1] == 16 and counts[0] == counts[2] == 142


def test_sampling_is_seeded_by_image_id():
    labels = np.random.default_rng(1).integers(0, 3, (50, 50)).astype(np.uint8)
    a = balanced_sample(labels, 100, 3, image_rng(0, "img1"))
    b = balanced_sample(labels, 100, 3, image_rng(0, "img1"))
    c = balanced_sample(labels, 100, 3, image_rng(0, "img2"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_sample_count(rng):
    with pytest.raises(ValueError, match="samples_per_image must be a positive integer, got 0"):
        balanced_sample(np.zeros((3, 3), np.uint8), 0, 2, rng)


def test_uniform_sample_keeps_the_class_frequencies():
    labels = np.zeros((200, 200), np.uint8)
    labels[:20, :] = 1  # 10 % of the pixels
    labels[20:24, :10] = 2  # 40 pixels: 0.1 %
    coords = sample_pixels(labels, 4000, 3, image_rng(0, "img"), balance="uniform")
    assert len(coords) == 4000 and len({tuple(c) for c in coords}) == 4000
    shares = np.bincount(labels[coords[:, 0], coords[:, 1]], minlength=3) / 4000
    # Binomial standard errors at n = 4000: 0.0047 for the 10 % class.
    assert abs(shares[1] - 0.10) < 0.02 and shares[2] < 0.005
    balanced = sample_pixels(labels, 4000, 3, image_rng(0, "img"))
    np.testing.assert_array_equal(balanced, balanced_sample(labels, 4000, 3, image_rng(0, "img")))
    # More samples than pixels: every pixel once.
    assert len(sample_pixels(labels[:10, :10], 500, 3, image_rng(0, "img"), balance="uniform")) == 100


def test_unknown_balance_is_refused(rng):
    with pytest.raises(ValueError, match="sampling.balance must be one of"):
        sample_pixels(np.zeros((3, 3), np.uint8), 4, 2, rng, balance="pose")
