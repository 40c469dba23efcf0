"""Choose settings on the training split only: cross-validation by image.

The training images are split into folds. For each fold a model is trained on
the other folds' sampled pixels (with the same code as the pipeline: sampling,
zarr stores, merge, trainers) and the held-out images are segmented at full
resolution and scored. The test split is never read.

Usage::

    python -m faceseg.tune --config config.yaml --set fasseg_root=PATH \\
        --experiment default --model mlp --folds 4 [--set models.mlp.epochs=10 ...]

With 20 training images one split into folds moves the scores as much as
many settings do: ``--repeats R`` reruns the cross-validation with other
folds, samples and model seeds, and ``--baseline FILE`` (an earlier
``--output`` with the same repeats) prints the per-repeat differences.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from faceseg import features, paths
from faceseg.atlas import choose_atlas_ids
from faceseg.class_bias import bias_report
from faceseg.config import (
    ConfigError,
    assignment,
    dataset_tag,
    deep_update,
    experiment_features,
    framing_settings,
    landmark_source,
    load_config,
    model_settings,
    reads_landmarks,
    shard_count,
    split_records,
)
from faceseg.config import n_landmarks as landmarks_per_file
from faceseg.datasets import get_dataset, read_labels
from faceseg.decision import bias_vector, biased_argmax, prior_weights
from faceseg.io import NoFaceError, read_image
from faceseg.landmarks import LandmarkDetector
from faceseg.metrics import confusion_matrix, scores
from faceseg.models import MODEL_KINDS, train
from faceseg.segment import decision_proba, framed_grid
from faceseg.shards import assign_shards
from faceseg.steps.extraction import extract_training_features
from faceseg.steps.label_atlas import read_label_atlas
from faceseg.steps.landmarks import detect_landmarks, landmarks_if_needed
from faceseg.store import TrainingStoreAttrs, merge_stores, open_store

log = logging.getLogger(__name__)


def fold_of(n_images: int, n_folds: int, seed: int = 0) -> np.ndarray:
    """Assign images to folds at random (seeded), as evenly as possible."""
    if not 2 <= n_folds <= n_images:
        raise ValueError(f"folds must be between 2 and the number of images ({n_images}), got {n_folds}")
    order = np.random.default_rng(seed).permutation(n_images)
    folds = np.empty(n_images, dtype=int)
    folds[order] = np.arange(n_images) % n_folds
    return folds


def cross_validate(
    dataset: str,
    records,
    landmark_files: dict,
    experiment: dict,
    model_kind: str,
    model_params: dict,
    n_landmarks: int | None,
    n_folds: int = 4,
    threads: int = 1,
    tile_size: int = 256,
    stride: int = 1,
    prior_grid=(None,),
    sigma_grid=(None,),
    stride_grid=(None,),
    workdir=None,
    fit_bias: bool = False,
    bias_subsample: int = 2,
    fold_seed: int = 0,
    framing: dict | None = None,
) -> list[dict]:
    """Scores of ``model_kind`` with ``experiment`` by leave-fold-out over ``records``.

    The decision parameters applied after the model (``prior_correction``,
    ``smooth_sigma``) and the segmentation stride are scored for every
    combination of ``prior_grid`` x ``sigma_grid`` x ``stride_grid`` from the
    same trained fold models (None: the model's own value, or ``stride``),
    through the workflow's own decision chain (:mod:`faceseg.decision`).
    Returns one result per combination.

    Each result also holds ``folds``: the pixel accuracy and mean IoU of
    each fold's held-out images alone, so a difference between settings can
    be read against the spread between folds.

    ``fit_bias``: also fit per-class arg-max factors (``class_bias``) to the
    held-out predictions of each combination (every ``bias_subsample``-th
    pixel of every ``bias_subsample``-th row), with a cross-fitted score
    (result key ``class_bias_fit``).

    ``fold_seed`` seeds the assignment of images to folds (:func:`fold_of`).
    ``framing``: the ``framing`` settings the images are put in their canonical
    frame with (:class:`faceseg.framing.ImageFraming`; None: as they are).
    """
    spec = get_dataset(dataset)
    config = features.resolve_config(experiment["features"])
    strides = [stride if t is None else int(t) for t in stride_grid]
    grid = [(a, s, t) for a in prior_grid for s in sigma_grid for t in strides]
    totals = {pair: np.zeros((n_folds, spec.n_classes, spec.n_classes), np.int64) for pair in grid}
    held_out = {pair: [] for pair in grid}  # (fold, proba rows, labels) per image, for fit_bias
    decision = MODEL_KINDS[model_kind].split(model_params)[1]
    bias = bias_vector(decision["class_bias"], spec.class_names, f"models.{model_kind}.class_bias")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:

        def extract(recs, folder, atlas=None):
            paths = []
            for rec in recs:
                path = Path(tmp) / folder / f"{rec.image_id}.zarr"
                extract_training_features(dataset, rec.image_id, rec.image_path, rec.label_path, path, config,
                                          experiment["sampling"], landmark_files.get(rec.image_id), n_landmarks,
                                          atlas=atlas, split="cv", framing=framing)
                paths.append(path)
            return paths

        folds = fold_of(len(records), n_folds, fold_seed)
        # Label atlas features depend on the other training images' labels: each fold
        # builds its atlas from its own training images, and describes them again with it.
        uses_atlas = features.needs_atlas(config)
        stores = None if uses_atlas else extract(records, "all")
        for k in range(n_folds):
            train_records = [rec for rec, f in zip(records, folds) if f != k]
            atlas = _fold_atlas(dataset, train_records, landmark_files, n_landmarks,
                                config["label_atlas"]["atlases"]) if uses_atlas else None
            fold_stores = (extract(train_records, f"fold{k}", atlas) if uses_atlas
                           else [s for s, f in zip(stores, folds) if f != k])
            merged = Path(tmp) / f"fold{k}.zarr"
            merge_stores(fold_stores, merged)
            group = open_store(merged)
            model = train(model_kind, group, model_params, threads=threads, info={"dataset": dataset})
            model.label_atlas = atlas
            counts = TrainingStoreAttrs.of(group).class_counts
            weights = {a: (model.class_weights if a is None else prior_weights(counts, a)) for a in prior_grid}
            for rec, f in zip(records, folds):
                if f != k:
                    continue
                image = read_image(rec.image_path)
                labels = read_labels(spec, rec.label_path, image.shape)
                try:
                    landmarks = landmarks_if_needed(config, landmark_files.get(rec.image_id), image.shape,
                                                    n_landmarks, framing is not None)
                except NoFaceError:
                    continue
                # As segment_images stores them: class-balanced posteriors on the stride grid of the canvas.
                grids = {t: framed_grid(model, image, landmarks, tile_size, threads, apply_prior=False, stride=t)
                         for t in strides}
                for a, s, t in grid:
                    processed = decision_proba(grids[t][0], t, image.shape[:2], weights[a], grids[t][1],
                                               decision["smooth_sigma"] if s is None else s)
                    pred = biased_argmax(processed, bias)
                    totals[(a, s, t)][k] += confusion_matrix(labels, pred, spec.n_classes)
                    if fit_bias:
                        step = bias_subsample
                        held_out[(a, s, t)].append((k, processed[::step, ::step].reshape(-1, spec.n_classes),
                                                    labels[::step, ::step].ravel()))
    results = []
    for (a, sigma, step), per_fold in totals.items():
        total = per_fold.sum(axis=0)
        result = scores(total, spec.class_names)
        result["confusion_matrix"] = total.tolist()
        result["folds"] = [_fold_scores(k, cm, spec.class_names) for k, cm in enumerate(per_fold)]
        result["prior_correction"] = decision["prior_correction"] if a is None else a
        result["smooth_sigma"] = decision["smooth_sigma"] if sigma is None else sigma
        result["stride"] = step
        if fit_bias:
            result["class_bias_fit"] = bias_report(held_out[(a, sigma, step)], spec, n_folds)
        results.append(result)
    return results


def repeated_cross_validate(dataset, records, landmark_files, experiment, model_kind, model_params, n_landmarks,
                            repeats: int = 1, **kwargs) -> list[dict]:
    """:func:`cross_validate` ``repeats`` times, with new folds, samples and model seeds each time.

    Repeat ``r`` assigns folds with seed ``r`` and adds ``r`` to the
    experiment's sampling seed and to the model's seed, so repeat 0 is the
    plain cross-validation. With 20 images, one split into folds moves the
    mean IoU by more than many settings do; repeats measure that spread, and
    two settings run with the same repeats can be compared repeat by repeat
    (:func:`paired_difference`).

    One result per grid combination, as :func:`cross_validate`'s: scores of
    the confusion matrix summed over the repeats, ``folds`` of every repeat
    (each with its ``repeat``), and ``repeats``: the seeds and scores of each.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if repeats > 1 and kwargs.get("fit_bias"):
        raise ValueError("fit_bias needs repeats=1: a class bias is fitted to one set of held-out predictions")
    spec = get_dataset(dataset)
    sampling_seed = int(experiment["sampling"].get("seed", 0))
    model_seed = int(model_params.get("seed", 0))
    runs = []
    for r in range(repeats):
        exp_r = copy.deepcopy(experiment)
        exp_r["sampling"] = {**experiment["sampling"], "seed": sampling_seed + r}
        params_r = {**model_params, "seed": model_seed + r}
        if repeats > 1:
            log.warning("repeat %d of %d", r + 1, repeats)
        results = cross_validate(dataset, records, landmark_files, exp_r, model_kind, params_r, n_landmarks,
                                 fold_seed=r, **kwargs)
        seeds = {"repeat": r, "fold_seed": r, "sampling_seed": sampling_seed + r, "model_seed": model_seed + r}
        runs.append((seeds, results))
    merged = []
    for i, first in enumerate(runs[0][1]):
        per_run = [(seeds, results[i]) for seeds, results in runs]
        total = np.sum([np.asarray(res["confusion_matrix"]) for _, res in per_run], axis=0)
        # The first repeat's decision settings (and class_bias_fit, with one repeat), pooled scores.
        result = {**first, **scores(total, spec.class_names), "confusion_matrix": total.tolist()}
        result["folds"] = [{**f, "repeat": seeds["repeat"]} for seeds, res in per_run for f in res["folds"]]
        result["repeats"] = [{**seeds, "pixel_accuracy": res["pixel_accuracy"], "mean_iou": res["mean_iou"]}
                             for seeds, res in per_run]
        merged.append(result)
    return merged


def paired_difference(result: dict, baseline: dict) -> dict:
    """Per-repeat differences ``result - baseline`` in mean IoU and pixel accuracy.

    Both must come from :func:`repeated_cross_validate` with the same
    repeats (same fold, sampling and model seeds), so each difference
    compares two settings on the same folds and samples. Returns, per score,
    the differences, their mean and standard deviation, and in how many
    repeats ``result`` scored higher.
    """
    mine, theirs = result.get("repeats"), baseline.get("repeats")
    if not mine or not theirs:
        raise ValueError("both results need 'repeats' (from python -m faceseg.tune --output)")
    seed_keys = ("repeat", "fold_seed", "sampling_seed", "model_seed")
    by_repeat = {tuple(b[k] for k in seed_keys): b for b in theirs}
    missing = [tuple(a[k] for k in seed_keys) for a in mine if tuple(a[k] for k in seed_keys) not in by_repeat]
    if missing:
        raise ValueError(f"the baseline has no repeat with (repeat, fold_seed, sampling_seed, model_seed) = "
                         f"{missing[0]}: run both with the same --repeats and seeds")
    out = {}
    for score in ("mean_iou", "pixel_accuracy"):
        diffs = [a[score] - by_repeat[tuple(a[k] for k in seed_keys)][score] for a in mine]
        out[score] = {"differences": diffs, "mean": float(np.mean(diffs)),
                      "sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None,
                      "higher": int(sum(d > 0 for d in diffs)), "n": len(diffs)}
    return out


def _fold_atlas(dataset, train_records, landmark_files, n_landmarks, count):
    """The label atlas of one fold: ``count`` of its training images (split name ``cv``)."""
    chosen = set(choose_atlas_ids([rec.image_id for rec in train_records], count))
    images = [(rec.image_id, rec.image_path, rec.label_path, landmark_files[rec.image_id])
              for rec in train_records if rec.image_id in chosen]
    return read_label_atlas(dataset, "cv", images, n_landmarks)


def _fold_scores(fold: int, cm: np.ndarray, class_names) -> dict:
    s = scores(cm, class_names)
    return {"fold": fold, "n_pixels": int(cm.sum()), "pixel_accuracy": s["pixel_accuracy"],
            "mean_iou": s["mean_iou"]}


def _read_baseline(path) -> list[dict]:
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"--baseline {path}: cannot read it as JSON ({err})") from err
    if not isinstance(results, list) or not results or not all("repeats" in r for r in results):
        raise SystemExit(f"--baseline {path}: not an --output of python -m faceseg.tune (no 'repeats')")
    return results


def _describe_difference(result: dict, baseline: list[dict]) -> str:
    """One line: ``result`` against the baseline result with the same decision settings (or its only one)."""
    keys = ("prior_correction", "smooth_sigma", "stride")
    same = baseline if len(baseline) == 1 else [b for b in baseline if all(b.get(k) == result[k] for k in keys)]
    if not same:
        return "vs baseline: no baseline result with the same decision settings"
    try:
        diff = paired_difference(result, same[0])
    except ValueError as err:
        return f"vs baseline: not comparable ({err})"
    d = diff["mean_iou"]
    sd = "" if d["sd"] is None else f", sd {d['sd']:.4f}"
    return ("vs baseline: mIoU " + " / ".join(f"{v:+.4f}" for v in d["differences"])
            + f" (mean {d['mean']:+.4f}{sd}; higher in {d['higher']} of {d['n']} repeats), PA mean "
            + f"{diff['pixel_accuracy']['mean']:+.4f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceseg.tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--experiment", default="best")
    parser.add_argument("--model", choices=list(MODEL_KINDS), default="mlp")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config entry, e.g. models.mlp.epochs=10 (repeatable)")
    parser.add_argument("--landmark-cache", default="results/tune/landmarks",
                        help="folder for landmarks detected here (the workflow's detections are used where they "
                             "exist)")
    parser.add_argument("--prior-grid", default=None, metavar="A,B,...",
                        help="prior_correction values to score (default: the config's)")
    parser.add_argument("--sigma-grid", default=None, metavar="A,B,...",
                        help="smooth_sigma values to score (default: the config's)")
    parser.add_argument("--stride-grid", default=None, metavar="A,B,...",
                        help="segmentation strides to score (default: the config's segmentation.stride)")
    parser.add_argument("--fit-class-bias", action="store_true",
                        help="fit per-class arg-max factors (class_bias) to the held-out predictions, "
                             "and score them cross-fitted (fitted on the other folds)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the cross-validation with new folds, samples and model seeds "
                             "(repeat r: fold seed r, sampling and model seeds + r)")
    parser.add_argument("--baseline", metavar="JSON",
                        help="an earlier --output of the same --repeats: print the paired per-repeat "
                             "differences against it")
    parser.add_argument("--output", help="write the scores here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.repeats > 1 and args.fit_class_bias:
        parser.error("--fit-class-bias needs --repeats 1")
    baseline = _read_baseline(args.baseline) if args.baseline else None

    try:
        overrides = {}
        for text in args.set:
            overrides = deep_update(overrides, assignment(text))
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    if args.experiment not in config["experiments"]:
        parser.error(f"--experiment {args.experiment!r} is not in {args.config}; "
                     f"it has {sorted(config['experiments'])}")
    dataset = config["dataset"]
    split = config["train_split"]
    records = split_records(config, split)
    experiment = copy.deepcopy(config["experiments"][args.experiment])
    experiment["features"] = experiment_features(config, args.experiment)
    # The model as the experiment trains it: top-level settings with the experiment's overrides.
    model_params = model_settings(config, args.experiment, args.model)
    model_params.pop("enabled")
    n_points = landmarks_per_file(config, args.experiment)
    landmark_files = {}
    if reads_landmarks(config, args.experiment):
        detector = LandmarkDetector(**config["detection"])
        tag = dataset_tag(config)
        shard_of = {i: shard for shard, ids in assign_shards([r.image_id for r in records],
                                                             shard_count(config, split)).items() for i in ids}
        for rec in records:
            if landmark_source(config, args.experiment) == "annotated":
                landmark_files[rec.image_id] = rec.landmark_path
                continue
            # The workflow's detections where it made them, else tune's own cache.
            path = Path(paths.landmark_file(tag, split, shard_of[rec.image_id], rec.image_id))
            if not path.exists():
                path = Path(args.landmark_cache) / tag / split / f"{rec.image_id}.txt"
                if not path.exists():
                    detect_landmarks(rec.image_path, path, detector=detector)
            landmark_files[rec.image_id] = path

    def grid(text):
        return (None,) if text is None else tuple(float(v) for v in text.split(","))

    start = time.perf_counter()
    results = repeated_cross_validate(
        dataset, records, landmark_files, experiment, args.model, model_params, n_points, repeats=args.repeats,
        n_folds=args.folds, threads=args.threads, tile_size=config["segmentation"]["tile_size"],
        stride=config["segmentation"].get("stride", 1), prior_grid=grid(args.prior_grid),
        sigma_grid=grid(args.sigma_grid), stride_grid=grid(args.stride_grid),
        fit_bias=args.fit_class_bias, framing=framing_settings(config))
    seconds = round(time.perf_counter() - start, 1)
    for result in results:
        result["settings"] = {"experiment": args.experiment, "model": args.model, "set": args.set,
                              "folds": args.folds, "repeats": args.repeats, "n_images": len(records),
                              "seconds": seconds}
        ious = {n: round(v["iou"], 4) for n, v in result["per_class"].items() if v["iou"] is not None}
        print(json.dumps({"prior_correction": result["prior_correction"], "smooth_sigma": result["smooth_sigma"],
                          "stride": result["stride"],
                          "pixel_accuracy": round(result["pixel_accuracy"], 4),
                          "mean_iou": round(result["mean_iou"], 4), "iou": ious}))
        for r, rep in enumerate(result["repeats"]):
            scored = [f for f in result["folds"] if f["n_pixels"] and f["repeat"] == r]
            print(f"#   repeat {r}: mIoU {rep['mean_iou']:.4f}, PA {rep['pixel_accuracy']:.4f}; folds: mIoU "
                  + " / ".join(f"{f['mean_iou']:.4f}" for f in scored)
                  + f" (sd {np.std([f['mean_iou'] for f in scored]):.4f}), PA "
                  + " / ".join(f"{f['pixel_accuracy']:.4f}" for f in scored))
        if len(result["repeats"]) > 1:
            ious = [rep["mean_iou"] for rep in result["repeats"]]
            print(f"#   over {len(ious)} repeats: mIoU mean {np.mean(ious):.4f}, sd {np.std(ious, ddof=1):.4f}")
        if baseline is not None:
            print("#   " + _describe_difference(result, baseline))
        if "class_bias_fit" in result:
            print("#   class_bias fit:", json.dumps(result["class_bias_fit"]))
    print(f"# {args.model}, {len(records)} training images, {args.folds} folds, {seconds} s, set={args.set}")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
