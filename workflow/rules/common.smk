# Helpers shared by the rules: dataset listing, paths, per-experiment settings.
import functools

from faceseg import config as _config
from faceseg import features as _features
from faceseg.datasets import get_dataset

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
    dataset="fasseg|fasseg-V2|fasseg-V3|lapa",
    split="train|val|test",
    experiment="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="rf|hgb|mlp",
    part="part[0-9]+",


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


def n_landmarks():
    return _config.n_landmarks(config)


def landmark_file(split, image_id, experiment_name):
    """The landmark file an image's features need ([] when the experiment uses none)."""
    if not uses_landmarks(experiment_name):
        return []
    if LANDMARK_SOURCE == "detected":
        return f"results/landmarks/{DATASET}/{split}/{image_id}.txt"
    return str(record(split, image_id).landmark_path)


def eval_parts():
    """The evaluation images in parts of ``segmentation.images_per_job``: {part name: [image ids]}.

    One segmentation job per part and model: the model is loaded and the
    libraries imported once per part, not once per image.
    """
    ids = list(records(config["eval_split"]))
    size = config["segmentation"]["images_per_job"]
    return {f"part{k // size + 1:03d}": ids[k : k + size] for k in range(0, len(ids), size)}


def part_images(part, experiment_name):
    """One {image_id, image, labels, landmarks} per image of a part (paths as strings, None where absent)."""
    split = config["eval_split"]
    out = []
    for image_id in eval_parts()[part]:
        r = record(split, image_id)
        out.append({
            "image_id": image_id,
            "image": str(r.image_path),
            "labels": str(r.label_path) if r.label_path else None,
            "landmarks": landmark_file(split, image_id, experiment_name) or None,
        })
    return out


def prediction_parts(dataset, experiment_name, model):
    """The part folders of one model's predictions."""
    return [f"results/predictions/{dataset}/{experiment_name}/{model}/{part}" for part in eval_parts()]


def prediction_files(dataset, experiment_name, model, kind):
    """{image id: path} of one kind of prediction output (labels, colour, confusion) inside the part folders."""
    from faceseg.steps import PART_LAYOUT

    folder = f"results/predictions/{dataset}/{experiment_name}/{model}"
    return {
        image: f"{folder}/{part}/{PART_LAYOUT[kind].format(image=image)}"
        for part, ids in eval_parts().items()
        for image in ids
    }


def all_reports():
    return [f"results/reports/{DATASET}/{name}/{model}/metrics.json" for name, model in runs()]


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
