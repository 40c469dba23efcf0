# Helpers shared by the rules: dataset listing, paths, per-experiment settings.
import functools

from faceseg import config as _config
from faceseg import features as _features
from faceseg.datasets import get_dataset
from faceseg.models import decision_path as _decision_path, split_params as _split_params
from faceseg.shards import assign_shards as _assign_shards

_config.apply_dataset_settings(config)
# The dataset's name in output paths (the {dataset} wildcard): fasseg, fasseg-V2, fasseg-V3 or lapa.
DATASET = _config.dataset_tag(config)
SPEC = get_dataset(config["dataset"])
LANDMARK_SOURCE = _config.landmark_source(config)
DOWNLOADED_FASSEG = _config.DOWNLOADED_FASSEG

for _name in config["run_experiments"]:
    if _name not in config["experiments"]:
        raise ValueError(
            f"run_experiments names unknown experiment {_name!r}; "
            f"defined experiments: {sorted(config['experiments'])}"
        )
    _features.resolve_config(_config.experiment_features(config, _name))  # parameter errors surface now
    if not _config.experiment_models(config, _name):
        raise ValueError(
            f"experiment {_name!r} trains no model: set models.<rf|hgb|mlp>.enabled "
            f"(or experiments.{_name}.models.<model>.enabled) to true"
        )
_config.holdout_persons(config)

wildcard_constraints:
    # Only the configured dataset: its inputs come from the configuration.
    dataset=DATASET,
    split="train|val|test",
    experiment="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="|".join(_config.MODEL_NAMES),
    shard="shard[0-9]+",


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


def experiment_features(name):
    """An experiment's feature configuration, with the dataset's class names filled in where needed."""
    return _config.experiment_features(config, name)


def model_params(experiment_name, model):
    """Parameters of ``model`` in an experiment: the top-level ``models`` entry with the experiment's overrides."""
    return _config.experiment_models(config, experiment_name)[model]


def runs():
    """Every (experiment, model) pair the configuration asks for, in config order."""
    return [(name, model) for name in config["run_experiments"] for model in _config.experiment_models(config, name)]


def uses_landmarks(experiment_name):
    return _features.needs_landmarks(experiment(experiment_name)["features"])


def uses_atlas(experiment_name):
    return _features.needs_atlas(experiment(experiment_name)["features"])


def atlas_file(experiment_name):
    """The label atlas an experiment's features and models read ([] when it uses none)."""
    if not uses_atlas(experiment_name):
        return []
    return f"results/features/{DATASET}/{experiment_name}/label_atlas.npz"


def atlas_images(experiment_name):
    """[image_id, image, labels, landmarks] of the training images that make an experiment's label atlas."""
    from faceseg.atlas import choose_atlas_ids

    split = config["train_split"]
    count = experiment_features(experiment_name)["label_atlas"].get("atlases", 20)
    out = []
    for image_id in choose_atlas_ids(records(split), count):
        r = record(split, image_id)
        out.append([image_id, str(r.image_path), str(r.label_path) if r.label_path else None,
                    landmark_file(split, image_id, experiment_name)])
    return out


def atlas_landmark_inputs(experiment_name):
    """The landmark folders or files the label atlas reads."""
    split = config["train_split"]
    wanted = {i[0] for i in atlas_images(experiment_name)}
    if LANDMARK_SOURCE == "detected":
        return [landmark_dir(split, shard) for shard, ids in shards(split).items() if wanted & set(ids)]
    return [i[3] for i in atlas_images(experiment_name)]


def n_landmarks():
    return _config.n_landmarks(config)


@functools.cache
def _shards(split):
    return _assign_shards(list(records(split)), _config.shard_count(config, split))


@functools.cache
def _shard_of(split):
    return {image_id: shard for shard, ids in _shards(split).items() for image_id in ids}


def shards(split):
    """The images of a split in shards: {shard name: [image ids]} (non-empty shards only)."""
    records(split)  # waits for the download, which _shards must not cache the absence of
    return _shards(split)


def shard_records(split, shard):
    return [record(split, image_id) for image_id in shards(split)[shard]]


def landmark_dir(split, shard):
    """The folder detect_landmarks writes a shard's landmark files into."""
    return f"results/landmarks/{DATASET}/{split}/{shard}"


def landmark_file(split, image_id, experiment_name, shard=None):
    """The landmark file an image's features need (None when the experiment uses none)."""
    if not uses_landmarks(experiment_name):
        return None
    if LANDMARK_SOURCE == "detected":
        shard = shard or _shard_of(split)[image_id]
        return f"{landmark_dir(split, shard)}/{image_id}.txt"
    return str(record(split, image_id).landmark_path)


def landmark_inputs(split, shard, experiment_name):
    """What a shard's jobs read for its landmarks: detect_landmarks' folder, or the annotated files."""
    if not uses_landmarks(experiment_name):
        return []
    if LANDMARK_SOURCE == "detected":
        return [landmark_dir(split, shard)]
    return [str(r.landmark_path) for r in shard_records(split, shard)]


def shard_images(split, shard, experiment_name):
    """One {image_id, image, labels, landmarks} per image of a shard (paths as strings, None where absent)."""
    return [
        {
            "image_id": r.image_id,
            "image": str(r.image_path),
            "labels": str(r.label_path) if r.label_path else None,
            "landmarks": landmark_file(split, r.image_id, experiment_name, shard),
        }
        for r in shard_records(split, shard)
    ]


def fit_params(experiment_name, model):
    """What training a model reads: its parameters less the decision parameters."""
    return _split_params(model_params(experiment_name, model))[0]


def decision_params(experiment_name, model):
    return _split_params(model_params(experiment_name, model))[1]


def decision_file(dataset, experiment_name, model):
    return str(_decision_path(f"results/models/{dataset}/{experiment_name}/{model}.joblib"))


def probability_stores(dataset, experiment_name, model):
    return [f"results/probabilities/{dataset}/{experiment_name}/{model}/{shard}.zarr"
            for shard in shards(config["eval_split"])]


def prediction_parts(dataset, experiment_name, model):
    """The shard folders of one model's predictions."""
    return [f"results/predictions/{dataset}/{experiment_name}/{model}/{shard}" for shard in shards(config["eval_split"])]


def prediction_files(dataset, experiment_name, model, kind):
    """{image id: path} of one kind of prediction output (labels, colour, confusion) inside the shard folders.

    In the split's listing order, whatever the sharding: the bootstrap
    intervals resample the images in this order.
    """
    from faceseg.steps import PREDICTION_LAYOUT

    split = config["eval_split"]
    shards(split)
    folder = f"results/predictions/{dataset}/{experiment_name}/{model}"
    return {
        image: f"{folder}/{_shard_of(split)[image]}/{PREDICTION_LAYOUT[kind].format(image=image)}"
        for image in records(split)
    }


def all_reports():
    return [f"results/reports/{DATASET}/{name}/{model}/metrics.json" for name, model in runs()]


def all_decision_files():
    """Each model's decision parameters beside it, where faceseg segment finds them."""
    return [decision_file(DATASET, name, model) for name, model in runs()]


def all_summaries():
    out = expand("results/reports/{dataset}/summary.{ext}", dataset=DATASET, ext=["md", "csv"])
    if config["dataset"] == "fasseg" and config["fasseg_version"] == "V3":
        out += expand("results/reports/{dataset}/per_pose.{ext}", dataset=DATASET, ext=["md", "csv"])
    return out


def eval_image_files():
    """{image_id: (image path, label path)} of the evaluation split, for the overlays."""
    return {
        image_id: (str(r.image_path), str(r.label_path) if r.label_path else None)
        for image_id, r in records(config["eval_split"]).items()
    }


def all_figures():
    figures = [
        f"results/reports/{DATASET}/{name}/{model}/{figure}"
        for name, model in runs()
        for figure in ("confusion.png", "overlays")
    ]
    figures.append(f"results/reports/{DATASET}/iou_by_class.png")
    figures += [
        f"results/reports/{DATASET}/{name}/rf/feature_importance.png" for name, model in runs() if model == "rf"
    ]
    return figures
