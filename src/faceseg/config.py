"""The workflow configuration: one loader, and the readings of it the rules and the tools share.

:func:`resolve_config` is the one place a configuration is checked and
completed: the JSON schema (``src/faceseg/config.schema.yaml``, with each
model kind's parameter table put in from :mod:`faceseg.models`), every model's
defaults, the dataset's settings (``dataset_settings``), every experiment's
feature and model parameters. The Snakefile calls it on Snakemake's
``config``; the tools (``faceseg.tune``, ``faceseg.bench``) call
:func:`load_config`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from faceseg import augment, features
from faceseg.datasets import fasseg_person, get_dataset, list_images
from faceseg.models import MODEL_KINDS

#: The schema of a configuration file (model parameters come from the model registry).
SCHEMA = Path(__file__).resolve().parent / "config.schema.yaml"

#: Where download_fasseg puts the repository when no fasseg_root is configured.
DOWNLOADED_FASSEG = "resources/fasseg"
#: Points per landmark file when landmarks are detected (dlib's 68-point model).
DETECTED_LANDMARKS = 68


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the key and the value."""


def schema() -> dict:
    """The configuration's JSON schema, with the parameter table of every registered model kind."""
    out = yaml.safe_load(SCHEMA.read_text())
    out["$defs"]["models"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: kind.schema() for name, kind in MODEL_KINDS.items()},
    }
    return out


def _check_schema(config: dict) -> None:
    error = best_match(Draft202012Validator(schema()).iter_errors(config))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the configuration"
        raise ConfigError(f"{where}: {error.message}")


def resolve_config(config: dict) -> dict:
    """Check ``config`` and complete it in place (and return it); :class:`ConfigError` when it cannot run.

    After it, ``config["models"]`` holds every parameter of every model kind
    (its table's defaults under the configuration's values, then
    ``dataset_settings``), so no default is read anywhere else.
    """
    _check_schema(config)
    seg = config["segmentation"]
    for key, stride in (("segmentation.stride", seg["stride"]), ("pose.stride", config["pose"]["stride"])):
        if seg["tile_size"] % stride:
            raise ConfigError(f"{key}: {stride} does not divide segmentation.tile_size {seg['tile_size']}")
    given = config.get("models") or {}
    config["models"] = {name: {**kind.defaults(), **copy.deepcopy(given.get(name) or {})}
                        for name, kind in MODEL_KINDS.items()}
    apply_dataset_settings(config)
    try:
        for name in config["run_experiments"]:
            if name not in config["experiments"]:
                raise ConfigError(f"run_experiments names unknown experiment {name!r}; "
                                  f"defined experiments: {sorted(config['experiments'])}")
        for name in config["experiments"]:
            features.resolve_config(experiment_features(config, name))
            if landmark_source(config, name) == "annotated" and get_dataset(config["dataset"]).n_landmarks is None:
                raise ConfigError(f"experiments.{name}.landmarks: {config['dataset']} ships no annotated landmarks; "
                                  "use detected")
            try:  # checked, not filled in: an experiment without augmentation keeps its sampling entry
                augment.validate(config["experiments"][name]["sampling"].get("augment"))
            except ValueError as exc:
                raise ConfigError(f"experiments.{name}.{exc}") from None
            # Model parameters need no second check: the schema holds every kind's table.
            trained = experiment_models(config, name)
            if name in config["run_experiments"] and not trained:
                raise ConfigError(f"experiment {name!r} trains no model: set models.<{'|'.join(MODEL_KINDS)}>"
                                  f".enabled (or experiments.{name}.models.<model>.enabled) to true")
        holdout_persons(config)
        pose_runs(config)
        if validation_split(config) in (config["eval_split"], config["train_split"]):
            raise ConfigError(f"decision_search.split.{config['dataset']}: {validation_split(config)!r} is the "
                              "training or evaluation split; decisions are chosen on a split of their own")
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config


def load_config(path="config.yaml", overrides: dict | None = None) -> dict:
    """The configuration in ``path`` with ``overrides`` merged in key by key, resolved (:func:`resolve_config`)."""
    try:
        config = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    return resolve_config(deep_update(config, overrides or {}))


def assignment(text: str) -> dict:
    """``a.b.c=value`` (the value read as YAML) as a nested override ``{"a": {"b": {"c": value}}}``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"an override takes key.path=value, got {text!r}")
    out: dict = yaml.safe_load(value)
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def deep_update(base: dict, extra: dict) -> dict:
    """A copy of ``base`` with ``extra`` merged in, nested mappings key by key."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply_dataset_settings(config: dict) -> dict:
    """Put ``dataset_settings.<dataset>`` into ``config`` in place (and return it).

    ``samples_per_image`` replaces every experiment's; ``models`` entries are
    merged into the top-level ``models`` key by key, so an experiment's own
    ``models`` overrides still win; ``also_run`` experiments are added to
    ``run_experiments`` (LaPa's image-only protocol beside its annotated one).
    """
    settings = (config.get("dataset_settings") or {}).get(config["dataset"]) or {}
    config["run_experiments"] = list(config["run_experiments"]) + [
        name for name in settings.get("also_run") or [] if name not in config["run_experiments"]]
    if "samples_per_image" in settings:
        for experiment in config["experiments"].values():
            experiment["sampling"]["samples_per_image"] = settings["samples_per_image"]
    for model, params in (settings.get("models") or {}).items():
        config["models"][model].update(copy.deepcopy(params))
    return config


def dataset_root(config: dict) -> str:
    if config["dataset"] == "lapa":
        return config["lapa_root"]
    return config.get("fasseg_root") or DOWNLOADED_FASSEG


def validation_split(config: dict) -> str | None:
    """The split each model's decision parameters are chosen on (``decision_search.split``), or None."""
    return ((config.get("decision_search") or {}).get("split") or {}).get(config["dataset"])


def framing_settings(config: dict) -> dict | None:
    """The configured dataset's ``framing`` (:class:`faceseg.framing.ImageFraming`), or None: images as they are."""
    framing = config.get("framing") or {}
    face_scale = (framing.get("face_scale") or {}).get(config["dataset"])
    if face_scale is None:
        return None
    return {"face_scale": face_scale, **{k: v for k, v in framing.items() if k != "face_scale"}}


def reads_landmarks(config: dict, experiment: str) -> bool:
    """Whether an experiment's jobs read landmark files: for its features, or to frame the images."""
    return features.needs_landmarks(experiment_features(config, experiment)) or framing_settings(config) is not None


def landmark_source(config: dict, experiment: str | None = None) -> str:
    """``annotated`` or ``detected``: the experiment's ``landmarks`` key, else the configured dataset's.

    It holds at training and test time alike: an experiment with ``detected``
    sees only what dlib finds in the image, the protocol of image-only
    published results, and its models work on new photos.
    """
    own = config["experiments"][experiment].get("landmarks") if experiment is not None else None
    return own or config["landmarks"][config["dataset"]]


def n_landmarks(config: dict, experiment: str | None = None) -> int | None:
    """Points per landmark file: 68 when detected by dlib, else the dataset's annotation."""
    if landmark_source(config, experiment) == "detected":
        return DETECTED_LANDMARKS
    return get_dataset(config["dataset"]).n_landmarks


def dataset_tag(config: dict) -> str:
    """The name of the configured dataset in output paths: ``fasseg`` (V1), ``fasseg-V2``, ``fasseg-V3``, ``lapa``."""
    if config["dataset"] == "fasseg" and config["fasseg_version"] != "V1":
        return f"fasseg-{config['fasseg_version']}"
    return config["dataset"]


def shard_count(config: dict, split: str) -> int:
    """How many shards a split's per-image work is cut into (``shards.<dataset>.<split>``)."""
    counts = config["shards"][config["dataset"]]
    if split not in counts:
        raise ValueError(f"shards.{config['dataset']} has no count for split {split!r}; it has {sorted(counts)}")
    return counts[split]


def is_fasseg_v3(config: dict) -> bool:
    return config["dataset"] == "fasseg" and config["fasseg_version"] == "V3"


def holdout_persons(config: dict) -> list[int] | None:
    """FASSEG V3 persons held out of the training part as the evaluation split (None: use the Test part)."""
    persons = config.get("v3_holdout_persons")
    if persons and not is_fasseg_v3(config):
        raise ValueError("v3_holdout_persons applies to dataset fasseg with fasseg_version V3 only")
    return persons or None


def pose_runs(config: dict) -> list[tuple[str, str]]:
    """The (experiment, model) pairs whose per-pose models estimate head pose (``pose``; FASSEG V3 runs)."""
    pose = config["pose"]
    out = []
    for name in pose["experiments"]:
        if name not in config["experiments"]:
            raise ConfigError(f"pose.experiments names unknown experiment {name!r}; "
                              f"defined: {sorted(config['experiments'])}")
        trained = experiment_models(config, name)
        for model in pose["models"]:
            if model not in trained:
                raise ConfigError(f"pose.models: {model!r} is not a model experiment {name!r} trains "
                                  f"({sorted(trained)})")
            out.append((name, model))
    return out


def split_note(config: dict) -> str:
    """How the evaluation split was made, in words (for report headers)."""
    persons = holdout_persons(config)
    if persons:
        return f"persons {', '.join(map(str, sorted(persons)))} held out of the V3 training part"
    return f"the {config['eval_split']} split"


def split_records(config: dict, split: str):
    """The images of a split, capped by ``max_images``.

    With ``v3_holdout_persons``, FASSEG V3's training part is split by person:
    ``test`` is the held-out persons' images and ``train`` the others', so no
    person is in both.
    """
    persons = holdout_persons(config)
    if persons is None:
        records = list_images(config["dataset"], dataset_root(config), split, config["fasseg_version"])
    else:
        if split not in ("train", "test"):
            raise ValueError(f"v3_holdout_persons: unknown split {split!r}")
        part = list_images("fasseg", dataset_root(config), "train", "V3")
        held_out = set(persons)
        found = {fasseg_person(r.image_id) for r in part}
        if not held_out <= found or held_out == found:
            raise ValueError(f"v3_holdout_persons {sorted(held_out)} must be some, not all, of the persons "
                             f"of the V3 training part {sorted(found)}")
        records = [r for r in part if (fasseg_person(r.image_id) in held_out) == (split == "test")]
    cap = config["max_images"].get(split)
    return records[:cap] if cap else records


def experiment_features(config: dict, name: str) -> dict:
    """Experiment ``name``'s feature configuration, with what the dataset decides filled in.

    ``label_atlas`` channels are named after the dataset's classes, so its
    ``classes`` is set to them (a configuration that names other classes is refused).
    """
    feature_config = copy.deepcopy(config["experiments"][name]["features"])
    if "label_atlas" in feature_config:
        params = dict(feature_config["label_atlas"] or {})
        classes = list(get_dataset(config["dataset"]).class_names)
        if params.get("classes") not in (None, classes):
            raise ValueError(f"experiments.{name}.features.label_atlas.classes {params['classes']} are not the "
                             f"classes of {config['dataset']} {classes}; leave it out")
        params["classes"] = classes
        feature_config["label_atlas"] = params
    return feature_config


def experiment_models(config: dict, name: str) -> dict[str, dict]:
    """``{model: parameters}`` of the models an experiment trains.

    An experiment's ``models`` entry overrides the top-level ``models`` key by
    key (``enabled`` included), so an experiment can tune or add a model
    without touching the others.
    """
    out = {}
    for model in MODEL_KINDS:
        params = model_settings(config, name, model)
        if params.pop("enabled"):
            out[model] = params
    return out


def model_settings(config: dict, name: str, model: str) -> dict:
    """The top-level ``models.<model>`` entry with experiment ``name``'s overrides (``enabled`` included)."""
    overrides = config["experiments"][name].get("models") or {}
    unknown = set(overrides) - set(MODEL_KINDS)
    if unknown:
        raise ValueError(f"experiments.{name}.models: unknown model(s) {sorted(unknown)}; known: {list(MODEL_KINDS)}")
    return {**copy.deepcopy(config["models"][model]), **copy.deepcopy(overrides.get(model) or {})}
