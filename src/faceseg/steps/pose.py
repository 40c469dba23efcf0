"""Head pose from the per-pose segmentation models (rules train_pose_models, estimate_pose,
train_pose_classifier, pose_report); the method is in :mod:`faceseg.pose`."""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from pathlib import Path

import joblib
import numpy as np

from faceseg import pose as headpose
from faceseg.datasets import fasseg_person, fasseg_pose
from faceseg.features import needs_landmarks
from faceseg.io import InputError, NoFaceError, atomic_output, read_image, read_landmarks
from faceseg.logutil import ShardTimer
from faceseg.models import load_model, train
from faceseg.segment import model_canvas, predict_proba_grids
from faceseg.steps.landmarks import landmarks_if_needed
from faceseg.store import merge_stores, open_store
from faceseg.summary import KHAN_2017

log = logging.getLogger(__name__)


def images_by_pose(image_ids, persons=None) -> dict[str, list[str]]:
    """``{pose: image ids}`` of FASSEG V3 images, in pose order (only ``persons``' when given)."""
    out: dict[str, list[str]] = {}
    for image_id in image_ids:
        if persons is None or fasseg_person(image_id) in persons:
            out.setdefault(fasseg_pose(image_id), []).append(image_id)
    return {p: out[p] for p in headpose.sorted_poses(out)}


def train_pose_models(kind: str, shard_stores, images: dict[str, list[str]], out_dir, params: dict,
                      threads: int = 1, info: dict | None = None) -> None:
    """One model of ``kind`` per pose, on that pose's images' samples, into ``out_dir/<pose>.joblib``.

    ``images``: ``{pose: image ids}``; their samples are read from the
    experiment's training shard stores.
    """
    with atomic_output(out_dir) as tmp, tempfile.TemporaryDirectory() as scratch:
        Path(tmp).mkdir()
        for pose, ids in images.items():
            store = Path(scratch) / f"{pose}.zarr"
            merge_stores(list(shard_stores), store, order=ids, only=True)
            model = train(kind, open_store(store), params, threads=threads,
                          info={**(info or {}), "pose": pose, "training_images": ids})
            model.save(Path(tmp) / f"{pose}.joblib")
            log.info("pose %s: %s model on %d images", pose, kind, len(ids))
        (Path(tmp) / "poses.json").write_text(json.dumps(list(images)) + "\n")


def load_pose_models(model_dir) -> tuple[list[str], list]:
    poses = json.loads((Path(model_dir) / "poses.json").read_text())
    return poses, [load_model(Path(model_dir) / f"{pose}.joblib") for pose in poses]


def estimate_pose_shard(model_dir, images: list[dict], out_file, n_landmarks: int | None = None,
                        tile_size: int = 256, stride: int = 4, threads: int = 1) -> dict:
    """Every pose model's class probabilities of each image, reduced to the pose evidence, into ``out_file``.

    ``images``: one ``{"image_id", "image", "landmarks"}`` per image. The
    features are computed once per image and classified by every pose model.
    An image that cannot be read or, for features with landmarks, has no face
    gets no evidence (the report counts it as not estimated) and the others go on.
    """
    poses, models = load_pose_models(model_dir)
    evidence = headpose.PoseEvidence(poses)
    timer = ShardTimer("estimate_pose")
    for item in images:
        with timer.image():
            try:
                image = read_image(item["image"])
                landmarks = landmarks_if_needed(models[0].feature_config, item.get("landmarks"), image.shape,
                                                n_landmarks, bool(models[0].info.get("framing")))
            except InputError as exc:  # unreadable, no face, or a bad landmark file
                log.warning("%s: pose not estimated: %s", item["image_id"], exc)
                continue
            # The pixels are counted on the models' canvas: the image in their training framing.
            canvas = model_canvas(models[0], image.shape, landmarks)
            points = canvas.points(landmarks) if needs_landmarks(models[0].feature_config) else None
            grids = predict_proba_grids(models, canvas.picture(image), points, tile_size, threads, apply_prior=False,
                                        stride=stride, location_map=canvas.location_map())
            evidence.add(item["image_id"], grids, models[0].class_names)
            log.info("%s: vote %s", item["image_id"], evidence.vote(item["image_id"]))
    evidence.save(out_file)
    return timer.report()


def train_pose_classifier(evidence_files, out_model, threads: int = 1) -> None:
    """The pose classifier, chosen by leave-one-person-out CV on out-of-fold evidence of the training photos."""
    evidence = headpose.PoseEvidence.load(evidence_files)
    ids = list(evidence.counts)
    truth = [fasseg_pose(i) for i in ids]
    clf = headpose.choose_classifier(evidence, ids, truth, [fasseg_person(i) for i in ids], threads=threads)
    for kind, s in clf.cv.items():
        log.info("descriptor %s: CV accuracy %.3f, MAE %.2f deg", kind, s["accuracy"], s["mae_deg"])
    log.info("chose %s", clf.kind)
    with atomic_output(out_model) as tmp:
        joblib.dump(clf, tmp)


def _landmark_yaws(images: list[dict]) -> dict[str, float]:
    """solvePnP yaw of each image's landmark file (NaN when it records no face)."""
    out = {}
    for item in images:
        shape = read_image(item["image"]).shape
        try:
            points = read_landmarks(item["landmarks"], image_shape=shape, n_points=68)
        except NoFaceError:
            out[item["image_id"]] = float("nan")
            continue
        out[item["image_id"]] = headpose.landmark_yaw(points, shape)
    return out


def pose_estimates(eval_evidence: dict[str, list], classifiers: dict[str, str], eval_images: list[dict],
                   train_images: list[dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """``({method: {image id: pose or None}}, {method: note})`` for every evaluation image.

    ``eval_evidence``: ``{"experiment / model": evidence files}``;
    ``classifiers``: the same keys to their pose classifier files;
    ``*_images``: ``{"image_id", "image", "landmarks"}`` (the landmark files
    the baseline reads).
    """
    ids = [i["image_id"] for i in eval_images]
    estimates, notes = {}, {}
    train_yaw = _landmark_yaws(train_images)
    calibration = headpose.YawCalibration.fit(list(train_yaw.values()),
                                              [headpose.pose_degrees(fasseg_pose(i)) for i in train_yaw])
    train_poses = headpose.sorted_poses(fasseg_pose(i) for i in train_yaw)
    eval_yaw = _landmark_yaws(eval_images)
    name = "landmarks: solvePnP yaw"
    estimates[name] = {i: calibration.pose(eval_yaw[i], train_poses) for i in ids}
    missing = sum(1 for i in ids if not np.isfinite(eval_yaw[i]))
    notes[name] = (f"dlib's 68 landmarks, OpenCV solvePnP on a generic 3-D face, pose = {calibration.slope:.2f} x yaw "
                   f"{calibration.intercept:+.1f} deg (fitted on the training photos); no face in {missing} photos")
    for run, files in eval_evidence.items():
        evidence = headpose.PoseEvidence.load(files)
        estimates[f"{run}: pixel vote"] = {i: evidence.vote(i) if i in evidence.counts else None for i in ids}
        notes[f"{run}: pixel vote"] = "one model per pose; the pose most confident on most eye, nose and mouth pixels"
        clf = joblib.load(classifiers[run])
        have = [i for i in ids if i in evidence.counts]
        predicted = dict(zip(have, clf.predict(evidence, have))) if have else {}
        estimates[f"{run}: pose classifier"] = {i: predicted.get(i) for i in ids}
        cv = ", ".join(f"{k} {s['accuracy']:.3f} / {s['mae_deg']:.2f} deg" for k, s in clf.cv.items())
        notes[f"{run}: pose classifier"] = (f"forest on the '{clf.kind}' descriptor of the per-pose maps, chosen by "
                                            f"leave-one-person-out CV on the training persons (accuracy / MAE: {cv})")
        missing = sum(1 for i in ids if i not in evidence.counts)
        if missing:
            for method in (f"{run}: pixel vote", f"{run}: pose classifier"):
                notes[method] += f"; not estimated in {missing} photos"
    return estimates, notes


def write_pose_report(estimates: dict[str, dict], notes: dict[str, str], out_md, out_csv, out_images_csv,
                      out_confusion_png, dataset_tag: str, split_note: str) -> dict[str, dict]:
    """pose.md / pose.csv (each method beside the published rows), the per-image estimates and a confusion figure.

    The figure shows the best method by accuracy (then MAE). Returns the scores by method.
    """
    from faceseg.plots import confusion_heatmap

    ids = list(next(iter(estimates.values())))
    truth = [fasseg_pose(i) for i in ids]
    poses = headpose.sorted_poses(truth + [p for est in estimates.values() for p in est.values() if p is not None])
    scores = {m: headpose.pose_scores(truth, [est[i] for i in ids], poses) for m, est in estimates.items()}
    lines = [f"# {dataset_tag}: head pose", "",
             f"Yaw of each evaluation photo ({len(ids)} photos, {split_note}), estimated from its segmentation by "
             "per-pose models (Khan, Mauro, Migliorati, Leonardi, ICME 2017) and by a landmark-only baseline. "
             "MAE: mean absolute error in degrees; accuracy: the exact pose (15-degree steps). A photo without an "
             "estimate counts as 0 degrees.", "",
             "| method | photos | MAE (deg) | accuracy |", "| --- | ---: | ---: | ---: |"]
    for method, s in scores.items():
        lines.append(f"| {method} | {s['n_images']} | {s['mae_deg']:.2f} | {s['accuracy']:.3f} |")
    for row in headpose.PUBLISHED_POSE:
        lines.append(f"| published: {row['method']} | | {row['mae_deg']:.2f} | {row['accuracy']:.3f} |")
    lines += ["", f"Published: {KHAN_2017}, Table 2, on the V3 test part (persons 8-15, trained on persons 1-7).",
              "", "## Accuracy by pose", "",
              "| method | " + " | ".join(poses) + " |", "| --- |" + " ---: |" * len(poses)]
    for method, s in scores.items():
        lines.append(f"| {method} | " + " | ".join(
            "" if s["per_pose_accuracy"][p] is None else f"{s['per_pose_accuracy'][p]:.2f}" for p in poses) + " |")
    lines += ["", "## Methods", ""] + [f"- **{m}**: {n}." for m, n in notes.items()]
    columns = ["method", "n_images", "mae_deg", "accuracy"] + [f"accuracy_{p}" for p in poses]
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for method, s in scores.items():
            writer.writerow({"method": method, "n_images": s["n_images"], "mae_deg": s["mae_deg"],
                             "accuracy": s["accuracy"],
                             **{f"accuracy_{p}": "" if v is None else v for p, v in s["per_pose_accuracy"].items()}})
        for row in headpose.PUBLISHED_POSE:
            writer.writerow({"method": f"published: {row['method']}", "mae_deg": row["mae_deg"],
                             "accuracy": row["accuracy"]})
    with atomic_output(out_images_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image_id", "pose", *estimates])
        for image_id, t in zip(ids, truth):
            writer.writerow([image_id, t, *(est[image_id] or "" for est in estimates.values())])
    best = max(scores, key=lambda m: (scores[m]["accuracy"], -scores[m]["mae_deg"]))
    confusion_heatmap(np.array(scores[best]["confusion"]), poses, out_confusion_png,
                      f"{dataset_tag}: head pose, {best}", what="pose", counted="photos")
    with atomic_output(out_md) as tmp:
        Path(tmp).write_text("\n".join(lines) + f"\n\nThe confusion figure shows {best}.\n")
    return scores
