"""A trained pixel classifier, its checkpoint file, and the checks on what it is given.

Every trained model is a :class:`PixelClassifier` saved with joblib as one
checkpoint dict: the estimator (a scikit-learn object, or MLP weights as NumPy
arrays plus its architecture and feature standardisation), the feature names,
class names and feature configuration it was trained on, the parameters and
the training state. :meth:`PixelClassifier.predict_proba` refuses features
that do not match, naming the first difference. How each kind predicts lives
with its trainer (:mod:`faceseg.models.kinds`).

Model files are pickles: load only files you made or trust.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from faceseg.decision import apply_class_weights, bias_vector, decision_path, prior_weights
from faceseg.io import InputError, atomic_output
from faceseg.models.decision_file import check_decision, read_decision, read_stride
from faceseg.models.kinds import model_kind

FORMAT = "faceseg-model"
FORMAT_VERSION = 1


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
        checkpoint = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "estimator": self.estimator,
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
        with atomic_output(path) as tmp:
            # Uncompressed: every segmentation job loads the model, and a 100-tree forest
            # took 2.6 s to decompress (zlib level 3) against 0.07 s to read as it is.
            joblib.dump(checkpoint, tmp, compress=0)


def load_model(path) -> PixelClassifier:
    """Load a model saved by :meth:`PixelClassifier.save`, with a clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        checkpoint = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means: not our file
        raise InputError(f"{path}: not a faceseg model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise InputError(f"{path}: not a faceseg model file (no '{FORMAT}' checkpoint inside)")
    if checkpoint["format_version"] > FORMAT_VERSION:
        raise InputError(f"{path}: model format {checkpoint['format_version']} is newer than this faceseg reads")
    atlas = checkpoint.get("label_atlas")
    if atlas is not None:
        from faceseg.atlas import LabelAtlas

        atlas = LabelAtlas(atlas["split"], tuple(atlas["ids"]), tuple(atlas["labels"]), atlas["landmarks"],
                           tuple(atlas["class_names"]))
    model = PixelClassifier(
        kind=checkpoint["kind"],
        estimator=checkpoint["estimator"],
        feature_names=list(checkpoint["feature_names"]),
        class_names=list(checkpoint["class_names"]),
        feature_config=checkpoint["feature_config"],
        params=checkpoint["params"],
        info=checkpoint["info"],
        class_weights=checkpoint.get("class_weights"),
        label_atlas=atlas,
        source=str(path),
    )
    decision = decision_path(path)
    if decision.is_file() and "class_pixel_counts" in model.info:
        # The workflow fits a model without its decision parameters and writes them beside it.
        model = model.with_decision(read_decision(decision, model.kind))
        model.segmentation_stride = read_stride(decision)
    return model
