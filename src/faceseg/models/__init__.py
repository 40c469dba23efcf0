"""Pixel classifiers: the registry of model kinds, training, and the saved model.

:func:`train` fits a model of any registered kind (:data:`MODEL_KINDS`) on a
merged training store; :func:`load_model` reads one back.
"""

from __future__ import annotations

from faceseg.decision import bias_vector, prior_weights
from faceseg.models.classifier import FeatureMismatchError, PixelClassifier, load_model
from faceseg.models.kinds import MODEL_KINDS, MODEL_NAMES, ModelKind, model_kind
from faceseg.store import TrainingStoreAttrs

__all__ = ["MODEL_KINDS", "MODEL_NAMES", "FeatureMismatchError", "ModelKind", "PixelClassifier", "load_model",
           "model_kind", "train"]


def train(kind: str, group, params: dict, threads: int = 1, info: dict | None = None) -> PixelClassifier:
    """A model of ``kind`` fitted on a merged store ``group``.

    ``params``: any of the kind's fit and decision parameters (the rest take
    their defaults). The decision parameters are checked before the fit, so a
    bad one fails before a long training run.
    """
    spec = model_kind(kind)
    fit, decision = spec.split(params)
    attrs = TrainingStoreAttrs.of(group)
    bias_vector(decision["class_bias"], attrs.class_names, f"models.{kind}.class_bias")
    weights = prior_weights(attrs.class_counts, decision["prior_correction"])
    estimator, train_info = spec.train(group, fit, threads)
    return PixelClassifier(kind, estimator, attrs.feature_names, attrs.class_names, attrs.feature_config,
                           {**fit, **decision}, {**(info or {}), **train_info},
                           None if weights is None else weights.tolist())
