"""The registry of model kinds: the one list of models the workflow, the schema and the tools use.

A :class:`ModelKind` is a name, whether the configuration trains it unless
told otherwise, its fit and decision parameter tables, its trainer and its
predictor. Adding a model is adding one entry to :data:`MODEL_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faceseg.models import mlp, trees
from faceseg.models.params import (
    HGB_FIT,
    MLP_FIT,
    RF_FIT,
    Param,
    decision_table,
    resolve,
    table_schema,
)


@dataclass(frozen=True)
class ModelKind:
    name: str
    description: str
    enabled: bool  # trained by every experiment unless the configuration says otherwise
    fit_params: dict[str, Param]
    decision_params: dict[str, Param]
    # (merged store group, resolved fit parameters, threads) -> (estimator, training info)
    train: Callable
    # (PixelClassifier, float32 rows, threads) -> (rows, classes) probabilities
    predict_proba: Callable
    # The most threads a training job takes (None: every core). Fewer lets its jobs run side by side.
    training_threads: int | None = None

    @property
    def params(self) -> dict[str, Param]:
        return {**self.fit_params, **self.decision_params}

    def defaults(self) -> dict:
        """Every parameter's default, ``enabled`` first: what the configuration starts from."""
        return {"enabled": self.enabled, **{name: p.default for name, p in self.params.items()}}

    def schema(self) -> dict:
        return table_schema(self.params)

    def resolve_fit(self, params: dict) -> dict:
        return resolve(self.fit_params, params, f"models.{self.name}")

    def resolve_decision(self, params: dict) -> dict:
        return resolve(self.decision_params, params, f"models.{self.name}")

    def split(self, params: dict) -> tuple[dict, dict]:
        """``(fit parameters, decision parameters)`` of a model's settings, each validated and complete."""
        unknown = sorted(set(params) - set(self.params) - {"enabled"})
        if unknown:
            raise ValueError(f"models.{self.name}: unknown parameter(s) {unknown}; known: {sorted(self.params)}")
        fit = self.resolve_fit({k: v for k, v in params.items() if k in self.fit_params})
        return fit, self.resolve_decision({k: v for k, v in params.items() if k in self.decision_params})


MODEL_KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        # At most 16 threads: a job on every core of a large machine waits until every other job
        # has ended (the MLPs train for half an hour on LaPa), and these train in minutes.
        ModelKind("rf", "random forest (scikit-learn)", True, RF_FIT, decision_table(0.25),
                  trees.train_forest, trees.predict_proba, training_threads=16),
        ModelKind("hgb", "histogram gradient boosting (scikit-learn)", False, HGB_FIT, decision_table(0.5),
                  trees.train_boosting, trees.predict_proba, training_threads=16),
        # Minibatches of 512 rows gain little from more threads on the CPU (nothing from a second
        # one on the 2-core development machine: docs/experiments.md, LaPa at its real sizes), so
        # the experiments' MLPs train side by side rather than one after the other on every core.
        ModelKind("mlp", "multilayer perceptron (PyTorch)", True, MLP_FIT, decision_table(0.75),
                  mlp.train, mlp.predict_proba, training_threads=8),
    )
}
MODEL_NAMES = tuple(MODEL_KINDS)


def model_kind(name: str) -> ModelKind:
    if name not in MODEL_KINDS:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODEL_KINDS)}")
    return MODEL_KINDS[name]
