"""Tree ensembles from scikit-learn: a random forest and histogram gradient boosting."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from faceseg.store import read_rows

if TYPE_CHECKING:  # the type only: the classifier imports the kinds, not the other way round
    from faceseg.models.classifier import PixelClassifier

log = logging.getLogger(__name__)

#: Rows per predict_proba call (measured on FASSEG features, 248 columns): scikit-learn runs
#: each tree over all the rows it is given, and blocks that stay in cache predicted a
#: 0.05 MP grid 3.4x (hgb) and 1.5x (rf) faster.
ROW_BLOCK = {"rf": 8192, "hgb": 2048}


def random_forest(p: dict, threads: int):
    """An unfitted seeded RandomForestClassifier from resolved ``rf`` fit parameters."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=p["n_estimators"],
        max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"],
        max_features=p["max_features"],
        max_samples=None if p["max_samples"] in (None, 1) else float(p["max_samples"]),
        class_weight=p["class_weight"],
        n_jobs=threads,
        random_state=p["seed"],
    )


def gradient_boosting(p: dict, threads: int):
    """An unfitted seeded HistGradientBoostingClassifier (no early stopping) from resolved ``hgb`` parameters."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=p["max_iter"],
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=False,
        random_state=p["seed"],
    )


def fit(kind: str, estimator, group, p: dict, threads: int) -> tuple[object, dict]:
    """Fit ``estimator`` on (up to ``max_train_samples``) rows of a merged store: ``(estimator, training info)``."""
    X, y, _ = read_rows(group, p["max_train_samples"], np.random.default_rng(p["seed"]))
    start = time.perf_counter()
    # Progress of the fit (trees built, boosting iterations) goes to stderr: the rule's log.
    estimator.set_params(verbose=1)
    with threadpool_limits(threads):
        estimator.fit(X, y)
    estimator.set_params(verbose=0)  # and none at prediction time
    seconds = time.perf_counter() - start
    log.info("%s: fitted on %d x %d samples in %.1f s", kind, *X.shape, seconds)
    return estimator, {"n_train_samples": int(len(y)), "train_seconds": round(seconds, 2)}


def train_forest(group, p: dict, threads: int):
    return fit("rf", random_forest(p, threads), group, p, threads)


def train_boosting(group, p: dict, threads: int):
    return fit("hgb", gradient_boosting(p, threads), group, p, threads)


def predict_proba(clf: PixelClassifier, X: np.ndarray, threads: int) -> np.ndarray:
    """Class probabilities of a tree ensemble; a class absent from training gets zeros."""
    if clf.kind == "rf":
        clf.estimator.n_jobs = threads
    out = np.zeros((len(X), len(clf.class_names)), dtype=np.float32)
    columns = clf.estimator.classes_.astype(int)
    block = ROW_BLOCK[clf.kind]
    for s in range(0, len(X), block):
        out[s : s + block, columns] = clf.estimator.predict_proba(X[s : s + block])
    return out
