# Helpers shared by the rules: dataset listing, paths, per-experiment settings.
import functools

from faceseg import config as _config
from faceseg import features as _features
from faceseg.datasets import get_dataset

DATASET = config["dataset"]
SPEC = get_dataset(DATASET)
MODELS = [name for name in ("rf", "hgb", "mlp") if config["models"][name]["enabled"]]
LANDMARK_SOURCE = _config.landmark_source(config)
DOWNLOADED_FASSEG = _config.DOWNLOADED_FASSEG

for _name in config["run_experiments"]:
    if _name not in config["experiments"]:
        raise ValueError(
            f"run_experiments names unknown experiment {_name!r}; "
            f"defined experiments: {sorted(config['experiments'])}"
        )
    _features.resolve_config(config["experiments"][_name]["features"])  # parameter errors surface now
if not MODELS:
    raise ValueError("no model enabled: set models.<rf|hgb|mlp>.enabled to true")

wildcard_constraints:
    dataset="fasseg|lapa",
    split="train|val|test",
    experiment="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="rf|hgb|mlp",


@functools.cache
def _records(split):
    return {r.image_id: r for r in _config.split_records(config, split)}


def records(split):
    """Images of a split, as {image_id: ImageRecord}; waits for the download if there is one."""
    if DATASET == "fasseg" and not config.get("fasseg_root"):
        checkpoints.download_fasseg.get()
    return _records(split)


def record(split, image_id):
    return records(split)[image_id]


def experiment(name):
    return config["experiments"][name]


def uses_landmarks(experiment_name):
    return _features.needs_landmarks(experiment(experiment_name)["features"])


def n_landmarks():
    return _config.n_landmarks(config)


def landmark_file(split, image_id, experiment_name):
    """The landmark file an image's features need ([] when the experiment uses none)."""
    if not uses_landmarks(experiment_name):
        return []
    if LANDMARK_SOURCE == "detected":
        return f"results/landmarks/{DATASET}/{split}/{image_id}.txt"
    return str(record(split, image_id).landmark_path)


def all_reports():
    return expand(
        "results/reports/{dataset}/{experiment}/{model}/metrics.json",
        dataset=DATASET,
        experiment=config["run_experiments"],
        model=MODELS,
    )


def eval_image_files():
    """{image_id: (image path, label path)} of the evaluation split, for the overlays."""
    return {
        image_id: (str(r.image_path), str(r.label_path) if r.label_path else None)
        for image_id, r in records(config["eval_split"]).items()
    }


def all_figures():
    figures = expand(
        "results/reports/{dataset}/{experiment}/{model}/{figure}",
        dataset=DATASET,
        experiment=config["run_experiments"],
        model=MODELS,
        figure=["confusion.png", "overlays"],
    )
    figures.append(f"results/reports/{DATASET}/iou_by_class.png")
    if "rf" in MODELS:
        figures += expand(
            "results/reports/{dataset}/{experiment}/rf/feature_importance.png",
            dataset=DATASET,
            experiment=config["run_experiments"],
        )
    return figures
