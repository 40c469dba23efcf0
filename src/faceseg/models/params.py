"""The parameters of each model kind: one table per kind, the only place a default lives.

A :class:`Param` holds its default, a JSON schema of its values and one line
of documentation. The configuration schema, the configuration's defaults,
``faceseg params`` and every parameter error come from these tables.

Fit parameters reach training; decision parameters are applied to a model's
stored probabilities at prediction time (:mod:`faceseg.decision`), so changing
one refits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from jsonschema import Draft202012Validator

POSITIVE_INT = {"type": "integer", "minimum": 1}
CAP = {"type": ["integer", "null"], "minimum": 1}


@dataclass(frozen=True)
class Param:
    default: object
    schema: dict
    doc: str


def decision_table(prior_correction: float) -> dict[str, Param]:
    """The decision parameters every model kind has, with its own prior correction."""
    return {
        "prior_correction": Param(
            prior_correction, {"type": "number", "minimum": 0, "maximum": 2},
            "strength of the correction from class-balanced training samples back to the training images' "
            "class frequencies (0 none, 1 the Bayes correction); choose it with python -m faceseg.tune "
            "--prior-grid"),
        "smooth_sigma": Param(
            4, {"type": "number", "minimum": 0},
            "Gaussian sigma (px) applied to each class's probability map before the arg-max (0: per pixel); "
            "choose it with python -m faceseg.tune --sigma-grid"),
        "class_bias": Param(
            None, {"type": ["null", "object"], "additionalProperties": {"type": "number", "exclusiveMinimum": 0}},
            "per-class factors on the smoothed probabilities before the arg-max, e.g. {eyes: 0.7} (classes "
            "left out: 1); fit them with python -m faceseg.tune --fit-class-bias"),
    }


RF_FIT = {
    "n_estimators": Param(100, POSITIVE_INT, "trees"),
    "max_depth": Param(None, CAP, "deepest a tree grows (null: until leaves are pure or small)"),
    "min_samples_leaf": Param(2, POSITIVE_INT, "smallest leaf"),
    "max_features": Param("sqrt", {"type": ["string", "number", "null"]}, "features tried per split"),
    "max_samples": Param(0.5, {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
                         "rows drawn (with replacement) to grow each tree, as a fraction of the training rows "
                         "(null: as many as there are)"),
    "max_train_samples": Param(300_000, CAP, "cap on rows read from the training store (bounds memory)"),
    "class_weight": Param(None, {"enum": [None, "balanced"]}, "null or balanced"),
    "seed": Param(0, {"type": "integer", "minimum": 0}, "seed of the forest"),
}

HGB_FIT = {
    "max_iter": Param(100, POSITIVE_INT, "boosting iterations (one tree per class each)"),
    "learning_rate": Param(0.1, {"type": "number", "exclusiveMinimum": 0}, "shrinkage"),
    "max_leaf_nodes": Param(63, POSITIVE_INT, "leaves per tree"),
    "min_samples_leaf": Param(100, POSITIVE_INT, "smallest leaf"),
    "l2_regularization": Param(1.0, {"type": "number", "minimum": 0}, "L2 penalty on the leaf values"),
    "max_train_samples": Param(300_000, CAP, "cap on rows read from the training store"),
    "seed": Param(0, {"type": "integer", "minimum": 0}, "seed of the boosting"),
}

MLP_FIT = {
    "hidden": Param([256, 128], {"type": "array", "minItems": 1, "items": POSITIVE_INT}, "hidden layer widths"),
    "dropout": Param(0.1, {"type": "number", "minimum": 0, "exclusiveMaximum": 1}, "dropout after each hidden layer"),
    "epochs": Param(8, POSITIVE_INT, "passes over the training store"),
    "batch_size": Param(512, POSITIVE_INT, "rows per minibatch"),
    "lr": Param(0.002, {"type": "number", "exclusiveMinimum": 0}, "peak learning rate (one-cycle schedule)"),
    "weight_decay": Param(0.0001, {"type": "number", "minimum": 0}, "AdamW weight decay"),
    "seed": Param(0, {"type": "integer", "minimum": 0}, "seed of the weights and the minibatch order"),
    "device": Param("auto", {"enum": ["auto", "cpu", "cuda"]}, "auto (GPU when available), cpu or cuda"),
}


def table_schema(table: dict[str, Param]) -> dict:
    """A JSON schema of a mapping of (some of) ``table``'s parameters, ``enabled`` besides."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"enabled": {"type": "boolean"}, **{name: p.schema for name, p in table.items()}},
    }


def resolve(table: dict[str, Param], params: dict, where: str) -> dict:
    """``params`` validated against ``table``, with its defaults filled in (``enabled`` dropped).

    Errors name the parameter (``where.name``) and the bad value.
    """
    params = {k: v for k, v in (params or {}).items() if k != "enabled"}
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(table)}")
    for name, value in params.items():
        error = next(Draft202012Validator(table[name].schema).iter_errors(value), None)
        if error is not None:
            raise ValueError(f"{where}.{name}: {error.message}")
    return {name: params.get(name, p.default) for name, p in table.items()}
