"""Pixel classifiers: a random forest (scikit-learn) and an MLP (PyTorch).

Every trained model is a :class:`PixelClassifier` saved with joblib as one
checkpoint dict: the estimator (forest object, or MLP weights as NumPy arrays
plus its architecture and feature standardisation), the feature names, class
names and feature configuration it was trained on, the parameters and the
training state. :meth:`PixelClassifier.predict_proba` refuses features that do
not match, naming the first difference.

Model files are pickles: load only files you made or trust.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from faceseg.io import InputError, atomic_output
from faceseg.logutil import progress
from faceseg.store import column_moments, iter_minibatches, read_rows

log = logging.getLogger(__name__)

FORMAT = "faceseg-model"
FORMAT_VERSION = 1

#: Parameters applied to a model's probabilities at prediction time (every model has them).
DECISION_DEFAULTS = {
    "prior_correction": 1.0,
    "smooth_sigma": 0.0,
    "guided_radius": 0,
    "guided_eps": 0.01,
    "class_bias": None,
}
RF_DEFAULTS = {
    "n_estimators": 100,
    "max_depth": None,
    "min_samples_leaf": 1,
    "max_features": "sqrt",
    "max_samples": None,
    "max_train_samples": 300_000,
    "class_weight": None,
    **DECISION_DEFAULTS,
    "seed": 0,
}
HGB_DEFAULTS = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "max_train_samples": 300_000,
    **DECISION_DEFAULTS,
    "seed": 0,
}
MLP_DEFAULTS = {
    "hidden": [256, 128],
    "dropout": 0.1,
    "epochs": 20,
    "batch_size": 512,
    "lr": 0.001,
    "weight_decay": 0.0001,
    **DECISION_DEFAULTS,
    "seed": 0,
    "device": "auto",
}


def split_params(params: dict) -> tuple[dict, dict]:
    """``(fit parameters, decision parameters)`` of a model's settings (``enabled`` dropped).

    Only the fit parameters reach training; the decision parameters are
    applied to the stored probabilities, so changing one refits nothing.
    """
    fit = {k: v for k, v in params.items() if k not in DECISION_DEFAULTS and k != "enabled"}
    return fit, {k: v for k, v in params.items() if k in DECISION_DEFAULTS}


def check_decision(kind: str, params: dict) -> dict:
    """Every decision parameter of a model of ``kind``, validated, defaults filled in."""
    unknown = set(params) - set(DECISION_DEFAULTS)
    if unknown:
        raise ValueError(f"models.{kind}: unknown decision parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(DECISION_DEFAULTS)}")
    p = {**DECISION_DEFAULTS, **params}
    _check_decision(kind, p)
    prior_weights({}, p["prior_correction"])  # checks its range
    return p


def decision_path(model_path) -> Path:
    """Where the workflow writes a model's decision parameters: ``<model>.decision.json`` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.decision.json")


def read_decision(path, kind: str) -> dict:
    """The decision parameters in ``path`` (written by :func:`faceseg.steps.write_decision`), validated."""
    try:
        return check_decision(kind, json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a decision parameter file ({exc})") from None


#: Rows per predict_proba call of the tree ensembles (measured on FASSEG features, 248 columns).
TREE_ROW_BLOCK = {"rf": 8192, "hgb": 2048}


class FeatureMismatchError(ValueError):
    """Features given to a model differ from those it was trained on."""


def _check_params(kind: str, params: dict, defaults: dict) -> dict:
    unknown = set(params) - set(defaults) - {"enabled"}
    if unknown:
        raise ValueError(f"models.{kind}: unknown parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    p = {**defaults, **{k: v for k, v in params.items() if k != "enabled"}}
    return p


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or null' if allow_none else ''}, got {value!r}")


def _check_decision(kind, p):
    """Checks of the parameters applied at prediction time."""
    sigma = p["smooth_sigma"]
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
        raise ValueError(f"models.{kind}.smooth_sigma must be a number >= 0, got {sigma!r}")
    radius = p["guided_radius"]
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"models.{kind}.guided_radius must be an integer >= 0, got {radius!r}")
    if isinstance(p["guided_eps"], bool) or not isinstance(p["guided_eps"], (int, float)) or not p["guided_eps"] > 0:
        raise ValueError(f"models.{kind}.guided_eps must be a positive number, got {p['guided_eps']!r}")
    bias = p["class_bias"]
    if bias is not None:
        if not isinstance(bias, dict) or not all(isinstance(name, str) for name in bias):
            raise ValueError(f"models.{kind}.class_bias must be null or a mapping of class name to factor, "
                             f"got {bias!r}")
        for name, factor in bias.items():
            _positive_float(f"models.{kind}.class_bias.{name}", factor)


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


def _positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass
class PixelClassifier:
    kind: str  # "rf" or "mlp"
    estimator: object  # fitted scikit-learn estimator, or an MLP weight dict
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
    _forward_layers: object = field(default=None, repr=False, compare=False)  # MLP: cached (W.T, b) layers

    @property
    def smooths(self) -> bool:
        """Whether predictions are spatially post-processed (Gaussian or guided filter on the probabilities)."""
        return self.params.get("smooth_sigma", 0) > 0 or self.params.get("guided_radius", 0) > 0

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

    def with_decision(self, decision: dict) -> "PixelClassifier":
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
        if self.kind in ("rf", "hgb"):
            if self.kind == "rf":
                self.estimator.n_jobs = threads or 1
            # A class absent from training has no column: put zeros there.
            out = np.zeros((len(X), len(self.class_names)), dtype=np.float32)
            columns = self.estimator.classes_.astype(int)
            # scikit-learn runs each tree over all the rows it is given: in blocks that
            # stay in cache, a 0.05 MP grid predicted 3.4x (hgb) and 1.5x (rf) faster.
            block = TREE_ROW_BLOCK[self.kind]
            with limits:
                for s in range(0, len(X), block):
                    out[s : s + block, columns] = self.estimator.predict_proba(X[s : s + block])
        else:
            with limits:
                out = _mlp_predict(self, X)
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
        model.source = str(path)
    return model


def _store_meta(group) -> dict:
    return {k: group.attrs[k] for k in ("feature_names", "class_names", "feature_config")}


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


def _weights_list(group, params, kind):
    bias_vector(params["class_bias"], list(group.attrs["class_names"]), f"models.{kind}.class_bias")
    weights = prior_weights(group.attrs, params["prior_correction"])
    return None if weights is None else weights.tolist()


# -- random forest ------------------------------------------------------------
def train_random_forest(group, params: dict, threads: int = 1, info: dict | None = None) -> PixelClassifier:
    """Fit a seeded random forest on (up to ``max_train_samples``) rows of a merged store."""
    from sklearn.ensemble import RandomForestClassifier

    p = _check_params("rf", params, RF_DEFAULTS)
    _positive_int("models.rf.n_estimators", p["n_estimators"])
    _positive_int("models.rf.max_depth", p["max_depth"], allow_none=True)
    _positive_int("models.rf.min_samples_leaf", p["min_samples_leaf"])
    _positive_int("models.rf.max_train_samples", p["max_train_samples"], allow_none=True)
    max_samples = p["max_samples"]
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, (int, float))
                                    or not 0 < max_samples <= 1):
        raise ValueError(f"models.rf.max_samples must be null or a fraction in (0, 1], got {max_samples!r}")
    _check_decision("rf", p)
    forest = RandomForestClassifier(
        n_estimators=p["n_estimators"],
        max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"],
        max_features=p["max_features"],
        max_samples=None if max_samples in (None, 1) else float(max_samples),
        class_weight=p["class_weight"],
        n_jobs=threads,
        random_state=p["seed"],
    )
    return _fit_tabular("rf", forest, group, p, threads, info)


def _fit_tabular(kind, estimator, group, p, threads, info) -> PixelClassifier:
    """Fit a scikit-learn classifier on (up to ``max_train_samples``) rows of a merged store."""
    weights = _weights_list(group, p, kind)  # checks prior_correction and class_bias before the long fit
    X, y, _ = read_rows(group, p["max_train_samples"], np.random.default_rng(p["seed"]))
    start = time.perf_counter()
    # Progress of the fit (trees built, boosting iterations) goes to stderr: the rule's log.
    estimator.set_params(verbose=1)
    with threadpool_limits(threads):
        estimator.fit(X, y)
    estimator.set_params(verbose=0)  # and none at prediction time
    seconds = time.perf_counter() - start
    log.info("%s: fitted on %d x %d samples in %.1f s", kind, *X.shape, seconds)
    meta = _store_meta(group)
    train_info = {**(info or {}), "n_train_samples": int(len(y)), "train_seconds": round(seconds, 2)}
    return PixelClassifier(kind, estimator, list(meta["feature_names"]), list(meta["class_names"]),
                           meta["feature_config"], p, train_info, weights)


# -- gradient boosting -----------------------------------------------------------
def train_gradient_boosting(group, params: dict, threads: int = 1, info: dict | None = None) -> PixelClassifier:
    """Fit scikit-learn's seeded HistGradientBoostingClassifier (no early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    p = _check_params("hgb", params, HGB_DEFAULTS)
    _positive_int("models.hgb.max_iter", p["max_iter"])
    _positive_int("models.hgb.max_leaf_nodes", p["max_leaf_nodes"])
    _positive_int("models.hgb.min_samples_leaf", p["min_samples_leaf"])
    _positive_float("models.hgb.learning_rate", p["learning_rate"])
    _positive_int("models.hgb.max_train_samples", p["max_train_samples"], allow_none=True)
    _check_decision("hgb", p)
    model = HistGradientBoostingClassifier(
        max_iter=p["max_iter"],
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=False,
        random_state=p["seed"],
    )
    return _fit_tabular("hgb", model, group, p, threads, info)


# -- MLP ------------------------------------------------------------------------
def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"models.mlp.device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("models.mlp.device is 'cuda' but no CUDA device is available")
    return device


def _build_mlp(n_in: int, hidden: list[int], n_out: int, dropout: float):
    import torch.nn as nn

    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def train_mlp(group, params: dict, threads: int = 1, info: dict | None = None) -> PixelClassifier:
    """Train an MLP on minibatches streamed from a merged store (never all of it in memory)."""
    import torch
    import torch.nn.functional as F

    p = _check_params("mlp", params, MLP_DEFAULTS)
    if not isinstance(p["hidden"], list) or not p["hidden"]:
        raise ValueError(f"models.mlp.hidden must be a non-empty list of layer widths, got {p['hidden']!r}")
    for h in p["hidden"]:
        _positive_int("models.mlp.hidden[]", h)
    _positive_int("models.mlp.epochs", p["epochs"])
    _positive_int("models.mlp.batch_size", p["batch_size"])
    _positive_float("models.mlp.lr", p["lr"])
    _check_decision("mlp", p)
    if not 0 <= p["dropout"] < 1:
        raise ValueError(f"models.mlp.dropout must be in [0, 1), got {p['dropout']!r}")
    device = _resolve_device(p["device"])
    weights = _weights_list(group, p, "mlp")
    torch.manual_seed(p["seed"])
    torch.set_num_threads(max(1, threads))
    if device == "cpu":
        torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(p["seed"])

    meta = _store_meta(group)
    n_rows, n_features = group["X"].shape
    n_classes = len(meta["class_names"])
    mean, std = column_moments(group)
    std = np.where(std < 1e-6, 1.0, std)  # constant features pass through centred
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device)
    inv_std_t = torch.tensor(1.0 / std, dtype=torch.float32, device=device)

    model = _build_mlp(n_features, p["hidden"], n_classes, p["dropout"]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    total_steps = p["epochs"] * math.ceil(n_rows / p["batch_size"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=p["lr"], total_steps=total_steps)

    history = []
    step = 0
    start = time.perf_counter()
    for epoch in progress(range(p["epochs"]), "mlp epochs"):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for xb, yb in iter_minibatches(group, p["batch_size"], rng):
            x = (torch.from_numpy(xb).to(device) - mean_t) * inv_std_t
            y = torch.from_numpy(yb.astype(np.int64)).to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(yb)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_accuracy": correct / seen})
        log.info("mlp epoch %d/%d: loss %.4f, train accuracy %.4f",
                 epoch + 1, p["epochs"], history[-1]["loss"], history[-1]["train_accuracy"])
    seconds = time.perf_counter() - start

    estimator = {
        "arch": {"n_in": n_features, "hidden": list(p["hidden"]), "n_out": n_classes, "dropout": p["dropout"]},
        "state_dict": {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()},
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
    }
    train_info = {
        **(info or {}),
        "n_train_samples": int(n_rows),
        "train_seconds": round(seconds, 2),
        "device": device,
        "train_state": {"epochs": p["epochs"], "steps": step, "history": history},
    }
    return PixelClassifier("mlp", estimator, list(meta["feature_names"]), list(meta["class_names"]),
                           meta["feature_config"], p, train_info, weights)


def _mlp_layers(clf: PixelClassifier) -> list[tuple[np.ndarray, np.ndarray]]:
    """The MLP's linear layers as ``(W.T, b)`` float32, the feature standardisation folded into the first."""
    if clf._forward_layers is None:
        state = clf.estimator["state_dict"]
        # nn.Sequential numbers its modules: Linear, ReLU, Dropout per hidden layer, then the output Linear.
        indices = sorted({int(k.split(".")[0]) for k in state if k.endswith(".weight")})
        layers = [(state[f"{i}.weight"].astype(np.float32), state[f"{i}.bias"].astype(np.float32)) for i in indices]
        inv_std = (1.0 / clf.estimator["std"]).astype(np.float32)
        w0, b0 = layers[0]
        w0 = w0 * inv_std[None, :]
        layers[0] = (w0, b0 - w0 @ clf.estimator["mean"].astype(np.float32))
        clf._forward_layers = [(np.ascontiguousarray(w.T), b) for w, b in layers]
    return clf._forward_layers


def _mlp_predict(clf: PixelClassifier, X: np.ndarray, batch: int = 65536) -> np.ndarray:
    # The forward pass in NumPy (BLAS): a segmentation job need not import PyTorch,
    # which costs more than segmenting a FASSEG image.
    layers = _mlp_layers(clf)
    out = np.empty((len(X), len(clf.class_names)), dtype=np.float32)
    for s in range(0, len(X), batch):
        h = X[s : s + batch]
        for i, (wt, b) in enumerate(layers):
            h = h @ wt
            h += b
            if i < len(layers) - 1:
                np.maximum(h, 0, out=h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=1, keepdims=True)
        out[s : s + batch] = h
    return out


TRAINERS = {"rf": train_random_forest, "hgb": train_gradient_boosting, "mlp": train_mlp}
