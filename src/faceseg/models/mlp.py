"""A multilayer perceptron (PyTorch) trained on minibatches streamed from a merged store.

Training uses PyTorch; prediction runs the forward pass in NumPy, so a
segmentation job need not import PyTorch (which costs more than segmenting a
FASSEG image).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from faceseg.logutil import progress
from faceseg.store import TrainingStoreAttrs, column_moments, iter_minibatches

if TYPE_CHECKING:  # the type only: the classifier imports the kinds, not the other way round
    from faceseg.models.classifier import PixelClassifier

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("models.mlp.device is 'cuda' but no CUDA device is available")
    return device


def build_mlp(n_in: int, hidden: list[int], n_out: int, dropout: float):
    """The network: Linear, ReLU, Dropout per hidden layer, then the output Linear."""
    import torch.nn as nn

    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def train(group, p: dict, threads: int) -> tuple[dict, dict]:
    """Train on minibatches of a merged store (never all of it in memory): ``(weights, training info)``."""
    import torch
    import torch.nn.functional as F

    device = resolve_device(p["device"])
    torch.manual_seed(p["seed"])
    torch.set_num_threads(max(1, threads))
    if device == "cpu":
        torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(p["seed"])

    n_rows, n_features = group["X"].shape
    n_classes = len(TrainingStoreAttrs.of(group).class_names)
    mean, std = column_moments(group)
    std = np.where(std < 1e-6, 1.0, std)  # constant features pass through centred
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device)
    inv_std_t = torch.tensor(1.0 / std, dtype=torch.float32, device=device)

    model = build_mlp(n_features, p["hidden"], n_classes, p["dropout"]).to(device)
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

    weights = {
        "arch": {"n_in": n_features, "hidden": list(p["hidden"]), "n_out": n_classes, "dropout": p["dropout"]},
        "state_dict": {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()},
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
    }
    info = {
        "n_train_samples": int(n_rows),
        "train_seconds": round(seconds, 2),
        "device": device,
        "train_state": {"epochs": p["epochs"], "steps": step, "history": history},
    }
    return weights, info


def _layers(clf: PixelClassifier) -> list[tuple[np.ndarray, np.ndarray]]:
    """The linear layers as ``(W.T, b)`` float32, the feature standardisation folded into the first."""
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


def predict_proba(clf: PixelClassifier, X: np.ndarray, threads: int, batch: int = 65536) -> np.ndarray:
    """Softmax outputs of the forward pass in NumPy (BLAS, under the caller's thread limits)."""
    layers = _layers(clf)
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
