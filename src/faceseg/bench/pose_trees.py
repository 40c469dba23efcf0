"""The pose models' tree count, by 7-fold cross-validation by person, from a finished pose_cv run.

    python -m faceseg.bench --pose-trees RUN_DIR --fasseg ../shared/data/fasseg --trees 100 50 25

RUN_DIR is a workflow folder where ``pose_cv`` ran on FASSEG V3 (every training
person's out-of-fold pose models are there). A random forest's first k trees
are the forest that ``n_estimators: k`` grows on the same rows (scikit-learn
draws the trees' seeds in order), so each fold's forests are cut to k trees and
the held-out person's photos are estimated again, at ``--stride``, as
``estimate_pose`` estimates them; the vote and each classifier candidate are then
scored as ``pose_cv`` scores them. Prints accuracy / MAE and the estimate's
seconds per photo for each k, side by side.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

DATASET = "fasseg-V3"


def _cut_models(model_dir, out_dir, trees: int) -> None:
    from faceseg.models import load_model

    poses_file = (Path(model_dir) / "poses.json").read_text()
    out_dir.mkdir(parents=True)
    for pose in json.loads(poses_file):
        model = load_model(Path(model_dir) / f"{pose}.faceseg")
        forest = model.estimator
        if trees > len(forest.estimators_):
            raise ValueError(f"{model_dir}/{pose}.faceseg has {len(forest.estimators_)} trees, not {trees}")
        forest.estimators_ = forest.estimators_[:trees]
        forest.n_estimators = model.params["n_estimators"] = trees
        model.save(out_dir / f"{pose}.faceseg")
    (out_dir / "poses.json").write_text(poses_file)


def person_images(run_dir, fasseg_root) -> dict[int, list[dict]]:
    """{person: estimate_pose's image items} of the V3 training part, with the run's dlib landmark files."""
    from faceseg import paths
    from faceseg.datasets import fasseg_person, list_fasseg

    out: dict[int, list[dict]] = {}
    for r in list_fasseg(fasseg_root, "V3", "train"):
        found = sorted(Path(run_dir).glob(paths.landmark_file(DATASET, "train", "shard*", r.image_id)))
        out.setdefault(fasseg_person(r.image_id), []).append(
            {"image_id": r.image_id, "image": str(r.image_path), "landmarks": None,
             "detected": str(found[0]) if found else None})
    return out


def run(run_dir, fasseg_root, trees=(100, 50, 25), stride: int = 8, experiment: str = "icme2017",
        model: str = "rf", tile_size: int = 256, threads: int = 2) -> dict[int, dict]:
    """{trees: {"seconds_per_photo", method: pose_scores}}."""
    from faceseg import paths
    from faceseg.datasets import fasseg_pose
    from faceseg.pose import pose_scores, sorted_poses
    from faceseg.steps.pose import estimate_pose_shard, pose_cv_estimates

    images = person_images(run_dir, fasseg_root)
    results = {}
    for k in trees:
        with tempfile.TemporaryDirectory() as scratch:
            files, seconds, photos = [], 0.0, 0
            for person, items in sorted(images.items()):
                model_dir = Path(run_dir) / paths.pose_model_dir(DATASET, experiment, model,
                                                                 f"without-person{person:02d}")
                cut = Path(scratch) / f"without-person{person:02d}"
                _cut_models(model_dir, cut, k)
                start = time.perf_counter()
                out = Path(scratch) / f"person{person:02d}.npz"
                estimate_pose_shard(cut, items, out, tile_size=tile_size, stride=stride, threads=threads)
                seconds += time.perf_counter() - start
                photos += len(items)
                files.append(out)
            estimates, _ = pose_cv_estimates({f"{k} trees": (files, None)}, threads=threads)
        ids = sorted(next(iter(estimates.values())))
        truth = [fasseg_pose(i) for i in ids]
        poses = sorted_poses(truth)
        results[k] = {"seconds_per_photo": seconds / photos}
        results[k].update({m.split(": ", 1)[1]: pose_scores(truth, [e.get(i) for i in ids], poses)
                           for m, e in estimates.items() if m.startswith(f"{k} trees")})
        print(f"{k} trees: {results[k]['seconds_per_photo']:.2f} s per photo", flush=True)
    return results


def format_table(results: dict) -> str:
    """Accuracy / MAE (deg) of each method, a column per tree count, and the estimate's seconds per photo."""
    methods = [m for m in next(iter(results.values())) if m != "seconds_per_photo"]
    lines = ["| method | " + " | ".join(f"{k} trees" for k in results) + " |",
             "| --- |" + " ---: |" * len(results)]
    lines += [f"| {m} | " + " | ".join(f"{r[m]['accuracy']:.3f} / {r[m]['mae_deg']:.2f}" for r in results.values())
              + " |" for m in methods]
    lines.append("| estimate, s per photo | " + " | ".join(f"{r['seconds_per_photo']:.2f}" for r in results.values())
                 + " |")
    return "\n".join(lines)
