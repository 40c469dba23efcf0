"""Head pose from the per-pose segmentation models (rules train_pose_models, estimate_pose,
train_pose_classifier, pose_report); the method is in :mod:`faceseg.pose`."""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

from faceseg import pose as headpose
from faceseg.datasets import fasseg_person, fasseg_pose
from faceseg.features import needs_landmarks
from faceseg.io import InputError, NoFaceError, atomic_output, read_image, read_landmarks
from faceseg.logutil import ShardTimer
from faceseg.metrics import ConfusionRecord
from faceseg.models import load_model, train
from faceseg.paths import MODEL_SUFFIX
from faceseg.segment import model_canvas, predict_proba_grids
from faceseg.steps.landmarks import landmarks_if_needed
from faceseg.store import merge_stores, open_store
from faceseg.summary import KHAN_2017

#: The published rows' protocol (ICME 2017): the persons that trained, and those tested (the V3 Test part).
PUBLISHED_POSE_PROTOCOL = ("1-7", "8-15")

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
    """One model of ``kind`` per pose, on that pose's images' samples, into ``out_dir/<pose>.faceseg``.

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
            model.save(Path(tmp) / f"{pose}{MODEL_SUFFIX}")
            log.info("pose %s: %s model on %d images", pose, kind, len(ids))
        (Path(tmp) / "poses.json").write_text(json.dumps(list(images)) + "\n")


def load_pose_models(model_dir) -> tuple[list[str], list]:
    poses = json.loads((Path(model_dir) / "poses.json").read_text())
    return poses, [load_model(Path(model_dir) / f"{pose}{MODEL_SUFFIX}") for pose in poses]


def estimate_pose_shard(model_dir, images: list[dict], out_file, n_landmarks: int | None = None,
                        tile_size: int = 256, stride: int = 4, threads: int = 1) -> dict:
    """Every pose model's class probabilities of each image, reduced to the pose evidence, into ``out_file``.

    ``images``: one ``{"image_id", "image", "landmarks", "detected"}`` per image
    (``detected``: dlib's 68 points, for the landmark geometry). The
    features are computed once per image and classified by every pose model;
    every model's maps are kept (:class:`faceseg.pose.PoseEvidence`), with the
    photo's landmark geometry and head-box appearance.
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
            picture = canvas.picture(image)
            grids = predict_proba_grids(models, picture, points, tile_size, threads, apply_prior=False,
                                        stride=stride, location_map=canvas.location_map())
            box = headpose.head_box(headpose.winner_map(grids))
            if box is not None:  # grid cells to picture pixels
                box = (box[0] * stride, box[1] * stride + stride - 1, box[2] * stride, box[3] * stride + stride - 1)
            evidence.add(item["image_id"], grids, models[0].class_names,
                         geometry=_detected_geometry(item.get("detected"), image.shape),
                         appearance=headpose.head_appearance(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY), box))
            log.info("%s: vote %s", item["image_id"], evidence.vote(item["image_id"]))
    evidence.save(out_file)
    return timer.report()


def own_pose_records(evidence_files, model_dir, images: list[dict], stride: int, run: str) -> list[ConfusionRecord]:
    """Each labelled evaluation photo segmented by its own pose's model, read from the stored maps.

    ICME 2017's per-pose segmentation: the photo's pose is known, and that
    pose's model labels it. The maps are interpolated to every pixel, prior
    corrected with the pose model's own class weights and arg-maxed; not smoothed.
    """
    from faceseg.datasets import FASSEG, read_labels
    from faceseg.metrics import confusion_matrix
    from faceseg.segment import proba_from_grid

    evidence = headpose.PoseEvidence.load(evidence_files)
    weights = {}
    records = []
    for item in images:
        image_id, pose = item["image_id"], fasseg_pose(item["image_id"])
        if not item.get("labels") or image_id not in evidence.maps or pose not in evidence.poses:
            continue
        if pose not in weights:
            weights[pose] = load_model(Path(model_dir) / f"{pose}{MODEL_SUFFIX}").class_weights
        try:
            labels = read_labels(FASSEG, item["labels"])
        except InputError as exc:
            log.warning("%s: not scored: %s", image_id, exc)
            continue
        grid = evidence.maps[image_id][evidence.poses.index(pose)].astype(np.float32)
        predicted = proba_from_grid(grid, stride, labels.shape, weights[pose]).argmax(axis=2)
        records.append(ConfusionRecord(image_id, run, confusion=confusion_matrix(labels, predicted,
                                                                                 len(FASSEG.class_names))))
    return records


def _detected_geometry(landmark_file, image_shape) -> np.ndarray:
    """:func:`faceseg.pose.landmark_geometry` of a photo's detected 68 points (NaN: no face, or no file)."""
    if landmark_file is None:
        return headpose.landmark_geometry(None, image_shape)
    try:
        points = read_landmarks(landmark_file, image_shape=image_shape, n_points=68)
    except NoFaceError:
        points = None
    return headpose.landmark_geometry(points, image_shape)


def train_pose_classifier(evidence_files, out_model, threads: int = 1) -> None:
    """The pose classifier, chosen by leave-one-person-out CV on out-of-fold evidence of the training photos."""
    evidence = headpose.PoseEvidence.load(evidence_files)
    ids = list(evidence.counts)
    truth = [fasseg_pose(i) for i in ids]
    clf = headpose.choose_classifier(evidence, ids, truth, [fasseg_person(i) for i in ids], threads=threads)
    for kind, s in clf.cv.items():
        log.info("descriptor %s: CV accuracy %.3f, MAE %.2f deg", kind, s["accuracy"], s["mae_deg"])
    log.info("chose %s", clf.kind)
    clf.save(out_model)


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
        clf = headpose.PoseClassifier.load(classifiers[run])
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


def _pose_accuracy_rows(scores: dict[str, dict], poses) -> list[str]:
    """Markdown rows of each method's accuracy by pose (``scores``: method -> :func:`faceseg.pose.pose_scores`)."""
    def cell(value):
        return "" if value is None else f"{value:.2f}"

    return [f"| {method} | " + " | ".join(cell(s["per_pose_accuracy"][p]) for p in poses) + " |"
            for method, s in scores.items()]


def _pose_accuracy_columns(s: dict) -> dict:
    """A CSV row's ``accuracy_<pose>`` columns of one method's scores."""
    return {f"accuracy_{p}": "" if v is None else v for p, v in s["per_pose_accuracy"].items()}


def write_pose_report(estimates: dict[str, dict], notes: dict[str, str], out_md, out_csv, out_images_csv,
                      out_confusion_png, dataset_tag: str, split_note: str, train_persons) -> dict[str, dict]:
    """pose.md / pose.csv (each method beside the published rows), the per-image estimates and a confusion figure.

    The figure shows the best method by accuracy (then MAE). Returns the scores by method.
    """
    from faceseg.plots import confusion_heatmap

    ids = list(next(iter(estimates.values())))
    truth = [fasseg_pose(i) for i in ids]
    poses = headpose.sorted_poses(truth + [p for est in estimates.values() for p in est.values() if p is not None])
    scores = {m: headpose.pose_scores(truth, [est[i] for i in ids], poses) for m, est in estimates.items()}
    scored = person_list(fasseg_person(i) for i in ids)
    ours = f"trained on persons {person_list(train_persons)}, scored on persons {scored}"
    published = "trained on persons {}, tested on persons {}".format(*PUBLISHED_POSE_PROTOCOL)
    lines = [f"# {dataset_tag}: head pose", "",
             f"Yaw of each evaluation photo ({len(ids)} photos, {split_note}), estimated from its segmentation by "
             "per-pose models (Khan, Mauro, Migliorati, Leonardi, ICME 2017) and by a landmark-only baseline. "
             "MAE: mean absolute error in degrees; accuracy: the exact pose (15-degree steps). A photo without an "
             "estimate counts as 0 degrees. Protocol: the persons (Pointing'04 numbers) whose photos trained the "
             "method, and those scored. Cross-validation by person on the training persons: pose_cv.md.", "",
             "| method | protocol | photos | MAE (deg) | accuracy |", "| --- | --- | ---: | ---: | ---: |"]
    for method, s in scores.items():
        lines.append(f"| {method} | {ours} | {s['n_images']} | {s['mae_deg']:.2f} | {s['accuracy']:.3f} |")
    for row in headpose.PUBLISHED_POSE:
        lines.append(f"| published: {row['method']} | {published} | | {row['mae_deg']:.2f} | {row['accuracy']:.3f} |")
    lines += ["", f"Published: {KHAN_2017}, Table 2, on the V3 test part.",
              "", "## Accuracy by pose", "",
              "| method | " + " | ".join(poses) + " |", "| --- |" + " ---: |" * len(poses)]
    lines += _pose_accuracy_rows(scores, poses)
    lines += _paired_pose_lines(estimates, ids, truth)
    lines += ["", "## Methods", ""] + [f"- **{m}**: {n}." for m, n in notes.items()]
    columns = ["method", "protocol", "n_images", "mae_deg", "accuracy"] + [f"accuracy_{p}" for p in poses]
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for method, s in scores.items():
            writer.writerow({"method": method, "protocol": ours, "n_images": s["n_images"], "mae_deg": s["mae_deg"],
                             "accuracy": s["accuracy"], **_pose_accuracy_columns(s)})
        for row in headpose.PUBLISHED_POSE:
            writer.writerow({"method": f"published: {row['method']}", "protocol": published,
                             "mae_deg": row["mae_deg"], "accuracy": row["accuracy"]})
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


def _paired_pose_lines(estimates: dict[str, dict], ids: list[str], truth: list[str]) -> list[str]:
    """Every pair of methods on the same photos: accuracy and MAE differences with paired intervals and tests."""
    from faceseg.comparison import paired_photo_comparison

    methods = list(estimates)
    if len(methods) < 2 or len(ids) < 2:
        return []
    degrees = {m: [headpose.pose_degrees("0" if estimates[m][i] is None else estimates[m][i]) for i in ids]
               for m in methods}
    t = [headpose.pose_degrees(p) for p in truth]
    lines = ["", "## Paired comparisons", "",
             f"Method a minus method b on the same {len(ids)} photos: 95% percentile bootstrap intervals over "
             "photos (the same draw for both); p: McNemar's exact test on the photos only one gets right "
             "(accuracy), Wilcoxon's signed-rank test on the absolute errors (MAE).", "",
             "| a | b | accuracy, a - b | interval | p | photos only a / only b right | MAE (deg), a - b | interval "
             "| p |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, a in enumerate(methods):
        for b in methods[k + 1:]:
            c = paired_photo_comparison(t, degrees[a], degrees[b])
            acc, mae = c["accuracy"], c["mae_deg"]
            lines.append(f"| {a} | {b} | {acc['difference']:+.3f} | {acc['low']:+.3f} to {acc['high']:+.3f} | "
                         f"{acc['p_value']:.2g} | {c['only_a_right']} / {c['only_b_right']} | "
                         f"{mae['difference']:+.2f} | {mae['low']:+.2f} to {mae['high']:+.2f} | "
                         f"{mae['p_value']:.2g} |")
    return lines


def person_list(persons) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    persons = sorted(set(int(p) for p in persons))
    runs: list[list[int]] = []
    for p in persons:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def pose_cv_estimates(runs: dict[str, tuple[list, str | None]], step: int = 1,
                      threads: int = 1) -> tuple[dict[str, dict], dict[str, str]]:
    """``({method: {image id: pose or None}}, {method: note})``: cross-validation by person on the training photos.

    ``runs``: ``{"experiment / model": (the training persons' evidence files,
    its pose classifier file)}``. Each photo's evidence is out of fold (pose
    models that never saw its person); the vote reads it as it is, each
    candidate classifier by the forest trained on the other persons' photos
    (``cv_predictions``), and the landmark baseline by a line fitted on the
    other persons' photos. ``step`` > 1 reads the maps at ``step`` times their
    stride (:meth:`~faceseg.pose.PoseEvidence.subsampled`), and the classifiers'
    cross-validation is run again on them, as it is without a classifier file.
    """
    estimates, notes = {}, {}
    for n, (run, (files, classifier_file)) in enumerate(runs.items()):
        evidence = headpose.PoseEvidence.load(files)
        if step > 1:
            evidence = evidence.subsampled(step)
        ids = list(evidence.maps)
        if n == 0:  # the landmarks are the same whatever the run
            yaws = {i: float(evidence.geometry[i][0]) for i in ids}
            persons = {i: fasseg_person(i) for i in ids}
            name = "landmarks: solvePnP yaw"
            estimates[name] = {}
            for person in sorted(set(persons.values())):
                inside = [i for i in ids if persons[i] != person]
                calibration = headpose.YawCalibration.fit([yaws[i] for i in inside],
                                                          [headpose.pose_degrees(fasseg_pose(i)) for i in inside])
                estimates[name].update({i: calibration.pose(yaws[i], evidence.poses) for i in ids
                                        if persons[i] == person})
            notes[name] = "the least-squares line from solvePnP's yaw to the pose, fitted on the other persons"
        estimates[f"{run}: pixel vote"] = {i: evidence.vote(i) for i in ids}
        notes[f"{run}: pixel vote"] = "the paper's vote on the out-of-fold maps"
        if classifier_file is None or step > 1:
            clf = headpose.choose_classifier(evidence, ids, [fasseg_pose(i) for i in ids],
                                             [fasseg_person(i) for i in ids], threads=threads)
        else:
            clf = headpose.PoseClassifier.load(classifier_file)
        for kind, predicted in clf.cv_predictions.items():
            method = f"{run}: pose classifier, {kind}"
            estimates[method] = {i: predicted.get(i) for i in ids}
            notes[method] = ("forest on the out-of-fold maps of the other persons"
                             + (" (chosen: the best CV accuracy of the candidates, so this row is optimistic by "
                                "that choice)" if kind == clf.kind else ""))
    return estimates, notes


def write_pose_cv_report(estimates: dict[str, dict], notes: dict[str, str], out_md, out_csv, dataset_tag: str,
                         stride: int) -> dict[str, dict]:
    """pose_cv.md / .csv: each method by fold (held-out person) and pooled, with pooled accuracy by pose."""
    ids = sorted(set().union(*(set(e) for e in estimates.values())))
    truth = {i: fasseg_pose(i) for i in ids}
    persons = sorted({fasseg_person(i) for i in ids})
    poses = headpose.sorted_poses(truth.values())
    scores = {}
    for method, est in estimates.items():
        scores[method] = {"pooled": headpose.pose_scores([truth[i] for i in ids], [est.get(i) for i in ids], poses)}
        for person in persons:
            held = [i for i in ids if fasseg_person(i) == person]
            scores[method][person] = headpose.pose_scores([truth[i] for i in held], [est.get(i) for i in held], poses)
    lines = [f"# {dataset_tag}: head pose, cross-validation by person", "",
             f"Training persons {person_list(persons)} ({len(ids)} photos), one fold per person: the held-out "
             "person's photos are segmented by per-pose models trained on the other persons' photos "
             f"(pose.stride {stride}), and each classifier is trained on the other persons' out-of-fold maps. "
             "Nothing here sees an evaluation photo. Accuracy / MAE (deg) by held-out person and pooled; "
             "a photo without an estimate counts as 0 degrees.", "",
             "| method | pooled accuracy | pooled MAE | " + " | ".join(f"person {p}" for p in persons) + " |",
             "| --- | ---: | ---: |" + " ---: |" * len(persons)]
    for method, s in scores.items():
        lines.append(f"| {method} | {s['pooled']['accuracy']:.3f} | {s['pooled']['mae_deg']:.2f} | " + " | ".join(
            f"{s[p]['accuracy']:.2f} / {s[p]['mae_deg']:.1f}" for p in persons) + " |")
    published = ", ".join(f"{r['method']} {r['accuracy']:.3f} / {r['mae_deg']:.2f} deg"
                          for r in headpose.PUBLISHED_POSE)
    lines += ["", f"Published ({KHAN_2017}, Table 2; trained on persons {PUBLISHED_POSE_PROTOCOL[0]}, tested on "
              f"persons {PUBLISHED_POSE_PROTOCOL[1]}): {published}.", "", "## Pooled accuracy by pose", "",
              "| method | " + " | ".join(poses) + " |", "| --- |" + " ---: |" * len(poses)]
    lines += _pose_accuracy_rows({m: s["pooled"] for m, s in scores.items()}, poses)
    # The paper's vote, the chosen classifier and the landmark baseline, paired on the same photos.
    compared = {m: {i: e.get(i) for i in ids} for m, e in estimates.items()
                if m.endswith("pixel vote") or "(chosen" in notes.get(m, "") or m.startswith("landmarks")}
    lines += _paired_pose_lines(compared, ids, [truth[i] for i in ids])
    lines += ["", "## Methods", ""] + [f"- **{m}**: {n}." for m, n in notes.items()]
    columns = ["method", "fold", "n_images", "mae_deg", "accuracy"] + [f"accuracy_{p}" for p in poses]
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for method, by_fold in scores.items():
            for fold, s in by_fold.items():
                writer.writerow({"method": method, "fold": fold if fold == "pooled" else f"person{fold:02d}",
                                 "n_images": s["n_images"], "mae_deg": s["mae_deg"], "accuracy": s["accuracy"],
                                 **_pose_accuracy_columns(s)})
    with atomic_output(out_md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return scores
