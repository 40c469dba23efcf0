"""From class probabilities to labels: prior correction, smoothing, class bias, arg-max.

The one decision chain of the project: the workflow's decide_labels,
``faceseg segment`` and the cross-validation of ``faceseg.tune`` all take
their labels from here. Its parameters (``prior_correction``, ``smooth_sigma``,
``class_bias``) are each model kind's decision parameters
(:mod:`faceseg.models.params`); the workflow writes them beside a model as
``<model>.decision.json`` (:mod:`faceseg.models.decision_file`, which checks
them against the kind's table). This module imports nothing from
:mod:`faceseg.models`, so the models build on it and not the other way round.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def prior_weights(counts, strength: float) -> np.ndarray | None:
    """Factors that turn class-balanced training posteriors into ones for real images.

    Training pixels are sampled class-balanced, so a model learns a prior of
    about 1/n_classes per class and over-predicts small classes (eyes, mouth).
    Multiplying the probabilities by ``(pixel share / sample share) ** strength``
    restores the training images' class frequencies (strength 1: the Bayes
    correction; 0: none). Both shares come from the training split only:
    ``counts`` maps ``class_pixel_counts`` and ``class_sample_counts`` to them
    (a merged store's attributes, a model's ``info``).
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 2:
        raise ValueError(f"prior_correction must be a number in [0, 2], got {strength!r}")
    pixels, samples = counts.get("class_pixel_counts"), counts.get("class_sample_counts")
    if strength == 0 or pixels is None or samples is None:
        return None
    pixels, samples = np.asarray(pixels, np.float64), np.asarray(samples, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (pixels / pixels.sum()) / (samples / samples.sum())
    return np.where(samples > 0, ratio, 0.0) ** strength


def apply_class_weights(proba: np.ndarray, weights) -> np.ndarray:
    """Rescale class probabilities (last axis) by ``weights`` and renormalise."""
    out = proba * np.asarray(weights, dtype=np.float32)
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
    return out


def bias_vector(class_bias, class_names, where: str = "class_bias") -> np.ndarray | None:
    """The arg-max factor of each class, in ``class_names`` order (None: no bias).

    ``class_bias`` maps class names to factors; classes it leaves out get 1.
    """
    if not class_bias:
        return None
    unknown = sorted(set(class_bias) - set(class_names))
    if unknown:
        raise ValueError(f"{where}: unknown class(es) {unknown}; the classes are {list(class_names)}")
    return np.array([float(class_bias.get(name, 1.0)) for name in class_names], dtype=np.float32)


def smoothed(proba: np.ndarray, smooth_sigma: float) -> np.ndarray:
    """Each class's probability map under a Gaussian of ``smooth_sigma`` px (``proba`` itself at 0).

    A pixel then takes the class most probable in its neighbourhood, which
    removes isolated errors.
    """
    if smooth_sigma < 0:
        raise ValueError(f"smooth_sigma must be >= 0, got {smooth_sigma!r}")
    if smooth_sigma == 0:
        return proba
    return np.stack(
        [cv2.GaussianBlur(proba[..., k], (0, 0), smooth_sigma, borderType=cv2.BORDER_REFLECT)
         for k in range(proba.shape[-1])],
        axis=-1,
    )


def biased_argmax(proba: np.ndarray, class_bias=None) -> np.ndarray:
    """Arg-max over the last axis of ``proba`` weighed by the per-class factors ``class_bias`` (None: 1)."""
    if class_bias is not None:
        proba = proba * np.asarray(class_bias, dtype=np.float32)
    return proba.argmax(axis=-1).astype(np.uint8)


def labels_from_proba(proba: np.ndarray, smooth_sigma: float = 0.0, class_bias=None) -> np.ndarray:
    """Arg-max labels of prior-corrected probabilities after smoothing and the class bias."""
    return biased_argmax(smoothed(proba, smooth_sigma), class_bias)


def decision_path(model_path) -> Path:
    """Where the workflow writes a model's decision parameters: ``<model>.decision.json`` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.decision.json")
