"""Sampling of training pixels: class-balanced (the default) or uniform over the image's pixels."""

from __future__ import annotations

import zlib

import numpy as np


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator seeded by the run seed and the image id, the same on every machine."""
    return np.random.default_rng([int(seed), zlib.crc32(image_id.encode())])


def class_quotas(counts: np.ndarray, n_samples: int) -> np.ndarray:
    """Split ``n_samples`` as evenly as possible over the classes present.

    A class with fewer pixels than its share gives all of them, and what it
    could not give is shared among the others (water filling), so small
    classes such as eyes and mouth get as many samples as they can.
    """
    counts = np.asarray(counts, dtype=np.int64)
    quotas = np.zeros_like(counts)
    open_ = counts > 0
    left = min(int(n_samples), int(counts.sum()))
    while left > 0 and open_.any():
        share = max(left // int(open_.sum()), 1)
        for c in np.flatnonzero(open_):
            take = min(share, counts[c] - quotas[c], left)
            quotas[c] += take
            left -= take
            if quotas[c] == counts[c]:
                open_[c] = False
            if left == 0:
                break
    return quotas


def balanced_sample(labels: np.ndarray, n_samples: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Pick up to ``n_samples`` pixels, class-balanced; returns ``(N, 2)`` (row, col), sorted."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"samples_per_image must be a positive integer, got {n_samples!r}")
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n_classes)[:n_classes]
    quotas = class_quotas(counts, n_samples)
    order = np.argsort(flat, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    chosen = [
        rng.choice(order[starts[c] : starts[c + 1]], size=q, replace=False)
        for c, q in enumerate(quotas)
        if q > 0
    ]
    index = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return np.stack(np.unravel_index(index, labels.shape), axis=1).astype(np.int32)


#: How an experiment's training pixels are drawn (``sampling.balance``); the first is the default.
BALANCES = ("classes", "uniform")


def uniform_sample(labels: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Pick up to ``n_samples`` pixels uniformly at random (the image's own class frequencies); ``(N, 2)``, sorted."""
    size = labels.size
    index = np.sort(rng.choice(size, size=min(int(n_samples), size), replace=False))
    return np.stack(np.unravel_index(index, labels.shape), axis=1).astype(np.int32)


def sample_pixels(labels: np.ndarray, n_samples: int, n_classes: int, rng: np.random.Generator,
                  balance: str | None = None) -> np.ndarray:
    """Training pixels of one image, drawn as ``balance`` says (:data:`BALANCES`); ``(N, 2)`` (row, col), sorted.

    Class-balanced sampling sees the small classes (eyes, mouth) as often as
    the large ones; the prior correction undoes the balance at decision time.
    Uniform sampling keeps each image's class frequencies (ICME 2017's pose
    models), and the prior correction then has nothing to undo.
    """
    balance = balance or BALANCES[0]
    if balance == "classes":
        return balanced_sample(labels, n_samples, n_classes, rng)
    if balance == "uniform":
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"samples_per_image must be a positive integer, got {n_samples!r}")
        return uniform_sample(labels, n_samples, rng)
    raise ValueError(f"sampling.balance must be one of {BALANCES}, got {balance!r}")
