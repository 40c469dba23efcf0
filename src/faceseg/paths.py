"""Every path under ``results/``: the one place the workflow's output layout is written down.

Each function returns the path of one output; called without arguments it
returns the Snakemake pattern (``{dataset}``, ``{experiment}``, ... left as
wildcards), which is how the rules use it. Steps and tools call the same
functions with values, so a layout change is made here only.
"""

from __future__ import annotations

from faceseg.decision import decision_path

RESULTS = "results"
#: Model files (faceseg.models.model_file): a zip of JSON, safetensors and skops, which opens without running code.
MODEL_SUFFIX = ".faceseg"

D, E, M, SPLIT, SHARD = "{dataset}", "{experiment}", "{model}", "{split}", "{shard}"

#: Inside a shard's prediction folder, where each image's outputs go.
PREDICTION_LAYOUT = {"labels": "labels/{image}.png", "colour": "colour/{image}.png",
                     "confusion": "confusion/{image}.json"}


def landmark_dir(dataset=D, split=SPLIT, shard=SHARD) -> str:
    """The folder detect_landmarks writes a shard's landmark files into (``<image id>.txt`` each)."""
    return f"{RESULTS}/landmarks/{dataset}/{split}/{shard}"


def landmark_file(dataset, split, shard, image_id) -> str:
    return f"{landmark_dir(dataset, split, shard)}/{image_id}.txt"


def data_digest(dataset=D, split=SPLIT, shard=SHARD) -> str:
    """The pixel digests of a shard's image and label files (:mod:`faceseg.data_digest`)."""
    return f"{RESULTS}/data/{dataset}/{split}/{shard}.json"


def feature_shard(dataset=D, experiment=E, split=SPLIT, shard=SHARD) -> str:
    """One shard's sampled training features (a zarr store, a group per image)."""
    return f"{RESULTS}/features/{dataset}/{experiment}/{split}/{shard}.zarr"


def training_store(dataset=D, experiment=E) -> str:
    """The merged training store of an experiment."""
    return f"{RESULTS}/features/{dataset}/{experiment}/train.zarr"


def atlas_file(dataset=D, experiment=E) -> str:
    return f"{RESULTS}/features/{dataset}/{experiment}/label_atlas.npz"


def model_file(dataset=D, experiment=E, model=M) -> str:
    return f"{RESULTS}/models/{dataset}/{experiment}/{model}{MODEL_SUFFIX}"


def decision_file(dataset=D, experiment=E, model=M) -> str:
    """A model's decision parameters, beside it (where ``load_model`` and ``faceseg segment`` find them)."""
    return str(decision_path(model_file(dataset, experiment, model)))


def validation_probability_store(dataset=D, experiment=E, model=M, split=SPLIT, shard=SHARD) -> str:
    """A shard's posteriors on the validation split, which the decision parameters are chosen on."""
    return f"{RESULTS}/probabilities/{dataset}/{experiment}/{model}/{split}/{shard}.zarr"


def decision_scores(dataset=D, experiment=E, model=M, split=SPLIT, shard=SHARD) -> str:
    """A validation shard's confusion matrix under each candidate decision (``.npz``)."""
    return f"{RESULTS}/decisions/{dataset}/{experiment}/{model}/{split}/{shard}.npz"


def pose_model_dir(dataset=D, experiment=E, model=M, fold="{fold}") -> str:
    """One model per head pose (``<pose>.faceseg`` and ``poses.json``), trained on a fold's persons.

    ``fold``: ``all`` (every training person) or ``without-personNN`` (the
    out-of-fold models that describe person NN's training photos).
    """
    return f"{RESULTS}/models/{dataset}/{experiment}/pose/{fold}/{model}"


def pose_classifier_file(dataset=D, experiment=E, model=M) -> str:
    return f"{RESULTS}/models/{dataset}/{experiment}/pose/classifier/{model}{MODEL_SUFFIX}"


def pose_evidence(dataset=D, experiment=E, model=M, split=SPLIT, part="{part}") -> str:
    """What the pose models said of a part of a split (an evaluation shard, or a training person)."""
    return f"{RESULTS}/pose/{dataset}/{experiment}/{model}/{split}/{part}.npz"


def probability_store(dataset=D, experiment=E, model=M, shard=SHARD) -> str:
    return f"{RESULTS}/probabilities/{dataset}/{experiment}/{model}/{shard}.zarr"


def prediction_dir(dataset=D, experiment=E, model=M, shard=SHARD) -> str:
    """A shard's predictions: :data:`PREDICTION_LAYOUT` inside."""
    return f"{RESULTS}/predictions/{dataset}/{experiment}/{model}/{shard}"


def prediction_file(folder, kind: str, image_id: str) -> str:
    """One image's ``labels``, ``colour`` or ``confusion`` output inside a shard's prediction folder."""
    return f"{folder}/{PREDICTION_LAYOUT[kind].format(image=image_id)}"


def report_dir(dataset=D, experiment=E, model=M) -> str:
    """One model's reports: metrics.json, per_class.csv / .html, report.md, confusion.png, overlays/."""
    return f"{RESULTS}/reports/{dataset}/{experiment}/{model}"


def report_file(name: str, dataset=D, experiment=E, model=M) -> str:
    return f"{report_dir(dataset, experiment, model)}/{name}"


def dataset_report(name: str, dataset=D) -> str:
    """A report over every experiment of a dataset: summary.md / .csv, per_pose.*, pose.*, iou_by_class.png."""
    return f"{RESULTS}/reports/{dataset}/{name}"


def metrics_of_model(model_path):
    """``results/models/D/E/K.faceseg`` -> ``results/reports/D/E/K/metrics.json`` (None outside that layout)."""
    from pathlib import Path

    parts = Path(model_path).resolve().parts
    if len(parts) >= 4 and parts[-4] == "models":
        return Path(*parts[:-4], "reports", parts[-3], parts[-2], Path(model_path).stem, "metrics.json")
    return None
