# Helpers shared by the rules: dataset listing, paths, per-experiment settings.
import functools
from pathlib import Path

# The config was checked and completed by faceseg.config.resolve_config (Snakefile);
# every path under results/ comes from faceseg.paths.
from faceseg import config as _config
from faceseg import features as _features
from faceseg import paths
from faceseg.datasets import get_dataset
from faceseg.models import MODEL_KINDS as _MODEL_KINDS
from faceseg.provenance import stage_provenance as _stage_provenance
from faceseg.shards import assign_shards as _assign_shards

# The dataset's name in output paths (the {dataset} wildcard): fasseg, fasseg-V2, fasseg-V3 or lapa.
DATASET = _config.dataset_tag(config)
SPEC = get_dataset(config["dataset"])
DOWNLOADED_FASSEG = _config.DOWNLOADED_FASSEG


wildcard_constraints:
    # Only the configured dataset: its inputs come from the configuration.
    dataset=DATASET,
    split="train|val|test",
    experiment="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="|".join(_MODEL_KINDS),
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


VALIDATION_SPLIT = _config.validation_split(config)


def decision_score_files(dataset, experiment_name, model):
    """Every validation shard's scores of the candidate decisions of a model: what choose_decision sums."""
    return [
        paths.decision_scores(dataset, experiment_name, model, VALIDATION_SPLIT, shard)
        for shard in shards(VALIDATION_SPLIT)
    ]


def provenance(script=None, experiment_name=None, entries=()):
    """A rule's code fingerprint and library versions, a ``params`` entry: a change of either reruns the rule.

    ``script``: the rule's script in workflow/scripts (its faceseg imports are what the rule runs);
    ``experiment_name``: narrows the feature groups reached to that experiment's.
    """
    path = Path(workflow.basedir) / "workflow" / "scripts" / f"{script}.py" if script else None
    groups = list(experiment_features(experiment_name)) if experiment_name else None
    return _stage_provenance(path, tuple(entries), groups)


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


def test_protocol(experiment_name):
    """What an experiment's models see of a test image: the summary states it beside the published rows."""
    if not uses_landmarks(experiment_name):
        return "image only (no landmarks)"
    if landmark_source(experiment_name) == "detected":
        return "image only (landmarks detected by dlib)"
    if not _features.needs_landmarks(experiment(experiment_name)["features"]):
        return "annotated landmarks at test time (they frame the image: not the published protocol)"
    return "annotated landmarks at test time (the dataset's points: not the published protocol)"


def uses_landmarks(experiment_name):
    """Whether an experiment's jobs read landmark files: for its features, or to frame the images (framing)."""
    return _config.reads_landmarks(config, experiment_name)


FRAMING = _config.framing_settings(config)


def training_threads(wildcards):
    """Threads of a train_model job: every core, or its model kind's cap (faceseg.models.kinds)."""
    cap = _MODEL_KINDS[wildcards.model].training_threads
    return workflow.cores if cap is None else min(cap, workflow.cores)


def uses_atlas(experiment_name):
    return _features.needs_atlas(experiment(experiment_name)["features"])


def atlas_file(experiment_name):
    """The label atlas an experiment's features and models read ([] when it uses none)."""
    if not uses_atlas(experiment_name):
        return []
    return paths.atlas_file(DATASET, experiment_name)


def atlas_images(experiment_name):
    """[image_id, image, labels, landmarks] of the training images that make an experiment's label atlas."""
    from faceseg.atlas import choose_atlas_ids

    split = config["train_split"]
    count = experiment_features(experiment_name)["label_atlas"].get("atlases", 20)
    out = []
    for image_id in choose_atlas_ids(records(split), count):
        r = record(split, image_id)
        out.append(
            [
                image_id,
                str(r.image_path),
                str(r.label_path) if r.label_path else None,
                landmark_file(split, image_id, experiment_name),
            ]
        )
    return out


def atlas_landmark_inputs(experiment_name):
    """The landmark folders or files the label atlas reads."""
    split = config["train_split"]
    wanted = {i[0] for i in atlas_images(experiment_name)}
    if landmark_source(experiment_name) == "detected":
        return [landmark_dir(split, shard) for shard, ids in shards(split).items() if wanted & set(ids)]
    return [i[3] for i in atlas_images(experiment_name)]


def landmark_source(experiment_name):
    """Where an experiment's landmarks come from: annotated (the dataset's files) or detected (dlib)."""
    return _config.landmark_source(config, experiment_name)


def n_landmarks(experiment_name):
    return _config.n_landmarks(config, experiment_name)


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
    return paths.landmark_dir(DATASET, split, shard)


def landmark_file(split, image_id, experiment_name, shard=None):
    """The landmark file an image's features need (None when the experiment uses none)."""
    if not uses_landmarks(experiment_name):
        return None
    if landmark_source(experiment_name) == "detected":
        return paths.landmark_file(DATASET, split, shard or _shard_of(split)[image_id], image_id)
    return str(record(split, image_id).landmark_path)


def landmark_inputs(split, shard, experiment_name):
    """What a shard's jobs read for its landmarks: detect_landmarks' folder, or the annotated files."""
    if not uses_landmarks(experiment_name):
        return []
    if landmark_source(experiment_name) == "detected":
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


def training_shard_stores(dataset, experiment_name):
    """The shard stores merge_features reads, in shard order."""
    split = config["train_split"]
    return [paths.feature_shard(dataset, experiment_name, split, shard) for shard in shards(split)]


def fit_params(experiment_name, model):
    """What training a model reads: its fit parameters (complete; the decision parameters left out)."""
    return _MODEL_KINDS[model].split(model_params(experiment_name, model))[0]


def decision_params(experiment_name, model):
    return _MODEL_KINDS[model].split(model_params(experiment_name, model))[1]


def data_digest_files(dataset, split):
    """Every shard's pixel digests of a split: what a model (training split) or metrics.json (evaluation) records."""
    return [paths.data_digest(dataset, split, shard) for shard in shards(split)]


def prediction_parts(dataset, experiment_name, model):
    """The shard folders of one model's predictions."""
    return [paths.prediction_dir(dataset, experiment_name, model, shard) for shard in shards(config["eval_split"])]


def prediction_files(dataset, experiment_name, model, kind):
    """{image id: path} of one kind of prediction output (labels, colour, confusion) inside the shard folders.

    In the split's listing order, whatever the sharding: the bootstrap
    intervals resample the images in this order.
    """
    split = config["eval_split"]
    shards(split)
    return {
        image: paths.prediction_file(
            paths.prediction_dir(dataset, experiment_name, model, _shard_of(split)[image]), kind, image
        )
        for image in records(split)
    }


# ----------------------------------------------------------------- head pose (FASSEG V3)

POSE_RUNS = _config.pose_runs(config)


def training_persons():
    from faceseg.datasets import fasseg_person

    return sorted({fasseg_person(i) for i in records(config["train_split"])})


def pose_fold(part):
    """The pose models that describe a part: every training person's for an evaluation shard, else the
    models that left the part's person out."""
    return "all" if part.startswith("shard") else f"without-{part}"


def pose_training_images(fold):
    """{pose: training image ids} of a fold's persons."""
    from faceseg.steps.pose import images_by_pose

    persons = set(training_persons())
    if fold != "all":
        persons.discard(int(fold.removeprefix("without-person")))
    return images_by_pose(records(config["train_split"]), persons)


def _pose_part_shards(split, part):
    """The shards holding a part's photos: the part itself, or every shard for a training person."""
    return [part] if part.startswith("shard") else shards(split)


def pose_part_images(split, part, experiment_name):
    """{image_id, image, labels, landmarks, detected} of an evaluation shard, or of one training person's photos.

    ``detected``: dlib's 68-point file, for the pose classifier's landmark geometry.
    """
    from faceseg.datasets import fasseg_person

    person = None if part.startswith("shard") else int(part.removeprefix("person"))
    return [
        {**i, "detected": paths.landmark_file(DATASET, split, shard, i["image_id"])}
        for shard in _pose_part_shards(split, part)
        for i in shard_images(split, shard, experiment_name)
        if person is None or fasseg_person(i["image_id"]) == person
    ]


def pose_part_landmarks(split, part, experiment_name):
    """The landmark inputs of a part's photos: the experiment's, and dlib's for the landmark geometry."""
    found = {f for shard in _pose_part_shards(split, part) for f in landmark_inputs(split, shard, experiment_name)}
    return sorted(found | {landmark_dir(split, shard) for shard in _pose_part_shards(split, part)})


def pose_eval_evidence(dataset):
    """{"experiment / model": the evaluation shards' pose evidence files}."""
    split = config["eval_split"]
    return {
        f"{e} / {m}": [paths.pose_evidence(dataset, e, m, split, shard) for shard in shards(split)]
        for e, m in POSE_RUNS
    }


def pose_cv_runs(dataset):
    """{"experiment / model": (the training persons' out-of-fold evidence files, the pose classifier file)}."""
    split = config["train_split"]
    return {
        f"{e} / {m}": (
            [paths.pose_evidence(dataset, e, m, split, f"person{p:02d}") for p in training_persons()],
            paths.pose_classifier_file(dataset, e, m),
        )
        for e, m in POSE_RUNS
    }


def own_pose_runs(dataset):
    """{"experiment / model (own-pose models)": the evaluation evidence and the pose models}."""
    return {
        f"{e} / {m} (own-pose models)": {
            "evidence": pose_eval_evidence(dataset)[f"{e} / {m}"],
            "models": paths.pose_model_dir(dataset, e, m, "all"),
        }
        for e, m in POSE_RUNS
    }


def baseline_images(split):
    """{image_id, image, landmarks} of a split with the detected landmark files the solvePnP baseline reads."""
    return [
        {
            "image_id": image_id,
            "image": str(r.image_path),
            "landmarks": paths.landmark_file(DATASET, split, _shard_of(split)[image_id], image_id),
        }
        for image_id, r in records(split).items()
    ]


def all_reports():
    return [paths.report_file("metrics.json", DATASET, name, model) for name, model in runs()]


def all_summaries():
    out = [paths.dataset_report(f"summary.{ext}", DATASET) for ext in ("md", "csv")]
    if _config.is_fasseg_v3(config):
        out += [paths.dataset_report(f"per_pose.{ext}", DATASET) for ext in ("md", "csv")]
        out += [
            paths.dataset_report(name, DATASET)
            for name in ("pose.md", "pose.csv", "pose_images.csv", "pose_confusion.png", "pose_cv.md", "pose_cv.csv")
        ]
    return out


def eval_image_files():
    """{image_id: (image path, label path)} of the evaluation split, for the overlays."""
    return {
        image_id: (str(r.image_path), str(r.label_path) if r.label_path else None)
        for image_id, r in records(config["eval_split"]).items()
    }


def all_figures():
    figures = [
        paths.report_file(figure, DATASET, name, model)
        for name, model in runs()
        for figure in ("confusion.png", "overlays")
    ]
    figures += [paths.dataset_report(name, DATASET) for name in ("iou_by_class.png", "paired_differences.png")]
    figures += [
        paths.report_file("feature_importance.png", DATASET, name, "rf") for name, model in runs() if model == "rf"
    ]
    return figures
