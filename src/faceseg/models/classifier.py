"""A trained pixel classifier, its checkpoint file, and the checks on what it is given.

Every trained model is a :class:`PixelClassifier` saved as one checkpoint in a
model file that opens without running code (:mod:`faceseg.models.model_file`):
the estimator (a scikit-learn object, or MLP weights as NumPy
arrays plus its architecture and feature standardisation), the feature names,
class names and feature configuration it was trained on, the parameters and
the training state. :meth:`PixelClassifier.predict_proba` refuses features
that do not match, naming the first difference. How each kind predicts lives
with its trainer (:mod:`faceseg.models.kinds`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from faceseg.decision import apply_class_weights, bias_vector, decision_path, prior_weights
from faceseg.io import InputError
from faceseg.models.decision_file import check_decision, read_decision, read_stride
from faceseg.models.kinds import model_kind
from faceseg.models.model_file import load_model_file, save_model_file

FORMAT = "faceseg-model"
# 2: a model file of JSON, safetensors and skops (1: a joblib pickle, refused; faceseg convert reads it).
FORMAT_VERSION = 2


class FeatureMismatchError(ValueError):
    """Features given to a model differ from those it was trained on."""


@dataclass
class PixelClassifier:
    kind: str  # a name of faceseg.models.kinds.MODEL_KINDS
    estimator: object  # what the kind's trainer fitted (a scikit-learn estimator, MLP weights)
    feature_names: list[str]
    class_names: list[str]
    feature_config: dict
    params: dict
    info: dict = field(default_factory=dict)  # dataset, experiment, training state, ...
    # Per-class factors applied to the probabilities; see prior_weights().
    class_weights: list | None = None
    # The label atlas (faceseg.atlas.LabelAtlas) its label_atlas features read; None without them.
    label_atlas: object = field(default=None, repr=False, compare=False)
    source: str | None = field(default=None, compare=False)  # the file it was loaded from, for messages
    # The stride the workflow segmented its evaluation images with (from the decision file), if known.
    segmentation_stride: int | None = field(default=None, compare=False)
    _forward_layers: object = field(default=None, repr=False, compare=False)  # MLP: cached (W.T, b) layers

    @property
    def decision(self) -> dict:
        """Its decision parameters (prior correction, smoothing, class bias)."""
        kind = model_kind(self.kind)
        return kind.resolve_decision({k: v for k, v in self.params.items() if k in kind.decision_params})

    @property
    def decision_bias(self) -> np.ndarray | None:
        """Per-class factors on the post-processed probabilities before the arg-max (``class_bias``)."""
        return bias_vector(self.params.get("class_bias"), self.class_names, f"models.{self.kind}.class_bias")

    @property
    def n_landmarks(self) -> int | None:
        """Landmarks per image its features were computed from (None: no landmark features)."""
        if self.label_atlas is not None:
            return self.label_atlas.n_landmarks
        return sum(name.startswith("lm_dx_") for name in self.feature_names) or None

    def with_decision(self, decision: dict) -> PixelClassifier:
        """This model with other decision parameters (prior correction, smoothing, class bias)."""
        decision = check_decision(self.kind, decision)
        bias_vector(decision["class_bias"], self.class_names, f"models.{self.kind}.class_bias")
        weights = prior_weights(self.info, decision["prior_correction"])
        return replace(self, params={**self.params, **decision},
                       class_weights=None if weights is None else weights.tolist(), _forward_layers=None)

    def feature_groups(self) -> list[str]:
        """The feature group of each of its input channels."""
        from faceseg.features import feature_groups

        return feature_groups(self.feature_config, self.n_landmarks)

    # -- checks -------------------------------------------------------------
    def check_features(self, names) -> None:
        names = list(names)
        if names == self.feature_names:
            return
        if len(names) != len(self.feature_names):
            detail = f"{len(names)} features given, the model was trained on {len(self.feature_names)}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(names, self.feature_names)) if a != b)
            detail = f"feature {i} is {names[i]!r}, the model expects {self.feature_names[i]!r}"
        missing = [n for n in self.feature_names if n not in set(names)][:5]
        extra = [n for n in names if n not in set(self.feature_names)][:5]
        where = f"{self.source}: " if self.source else ""
        raise FeatureMismatchError(
            f"{where}{self.kind} model: features do not match those it was trained on: {detail}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )

    # -- prediction ---------------------------------------------------------
    def predict_proba(self, X: np.ndarray, feature_names=None, threads: int | None = 1,
                      apply_prior: bool = True) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` for feature rows ``X``.

        ``apply_prior=False`` returns the class-balanced training posteriors,
        before the prior correction. ``threads=None``: one thread, under the
        thread-pool limits the caller set (for callers that run several
        predictions side by side).
        """
        if feature_names is not None:
            self.check_features(feature_names)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise FeatureMismatchError(
                f"{self.kind} model expects {len(self.feature_names)} feature columns, got array of shape {X.shape}"
            )
        limits = contextlib.nullcontext() if threads is None else threadpool_limits(threads)
        with limits:
            out = model_kind(self.kind).predict_proba(self, X, threads or 1)
        if apply_prior and self.class_weights is not None:
            out = apply_class_weights(out, self.class_weights)
        return out

    def predict(self, X, feature_names=None, threads: int = 1) -> np.ndarray:
        return self.predict_proba(X, feature_names, threads).argmax(axis=1).astype(np.uint8)

    # -- persistence --------------------------------------------------------
    def save(self, path) -> None:
        checkpoint = self._checkpoint()
        sklearn_estimator = not isinstance(self.estimator, dict)
        if not sklearn_estimator:
            checkpoint["estimator"] = self.estimator  # MLP weights: arrays into safetensors, the rest JSON
        save_model_file(path, checkpoint, self.estimator if sklearn_estimator else None)

    def _checkpoint(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "feature_config": self.feature_config,
            "params": self.params,
            "info": self.info,
            "class_weights": self.class_weights,
            "label_atlas": None if self.label_atlas is None else {
                "split": self.label_atlas.split,
                "ids": list(self.label_atlas.ids),
                "labels": list(self.label_atlas.labels),
                "landmarks": self.label_atlas.landmarks,
                "class_names": list(self.label_atlas.class_names),
            },
        }


def _check_checkpoint(checkpoint, path) -> None:
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise InputError(f"{path}: not a faceseg model file (no '{FORMAT}' checkpoint inside)")
    if checkpoint["format_version"] > FORMAT_VERSION:
        raise InputError(f"{path}: model format {checkpoint['format_version']} is newer than this faceseg reads")


def _from_checkpoint(checkpoint: dict, estimator, path) -> PixelClassifier:
    atlas = checkpoint.get("label_atlas")
    if atlas is not None:
        from faceseg.atlas import LabelAtlas

        atlas = LabelAtlas(atlas["split"], tuple(atlas["ids"]), tuple(atlas["labels"]), atlas["landmarks"],
                           tuple(atlas["class_names"]))
    return PixelClassifier(
        kind=checkpoint["kind"],
        estimator=estimator,
        feature_names=list(checkpoint["feature_names"]),
        class_names=list(checkpoint["class_names"]),
        feature_config=checkpoint["feature_config"],
        params=checkpoint["params"],
        info=checkpoint["info"],
        class_weights=checkpoint.get("class_weights"),
        label_atlas=atlas,
        source=str(path),
    )


def read_model_metadata(path) -> PixelClassifier:
    """The model in ``path`` without its estimator (``estimator`` is None): names, parameters, training info.

    Reads ``model.json`` and the arrays (the label atlas's maps, the MLP's weights); never builds the estimator.
    """
    checkpoint, _ = load_model_file(path, with_estimator=False)
    _check_checkpoint(checkpoint, path)
    return _from_checkpoint(checkpoint, None, path)


def load_model(path) -> PixelClassifier:
    """Load a model saved by :meth:`PixelClassifier.save`, with a clear error otherwise (pickles are refused)."""
    path = Path(path)
    checkpoint, estimator = load_model_file(path)
    _check_checkpoint(checkpoint, path)
    model = _from_checkpoint(checkpoint, checkpoint.get("estimator") if estimator is None else estimator, path)
    return with_decision_beside(model, path)


def with_decision_beside(model: PixelClassifier, path) -> PixelClassifier:
    """The model with the decision parameters and stride the workflow wrote beside ``path``, if any."""
    decision = decision_path(path)
    if decision.is_file() and "class_pixel_counts" in model.info:
        # The workflow fits a model without its decision parameters and writes them beside it.
        model = model.with_decision(read_decision(decision, model.kind))
        model.segmentation_stride = read_stride(decision)
    return model


def save_unpickled_checkpoint(checkpoint: dict, source, out_path) -> PixelClassifier:
    """Write the checkpoint dict unpickled from a format-1 ``.joblib`` model (``faceseg convert``) as a model file."""
    _check_checkpoint(checkpoint, source)
    model = _from_checkpoint(checkpoint, checkpoint["estimator"], source)
    model.save(out_path)
    return model
