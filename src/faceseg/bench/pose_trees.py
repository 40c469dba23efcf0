"""The pose models' tree count, by 7-fold cross-validation by person, from a finished pose_cv run.

    python -m faceseg.bench.pose_trees RUN_DIR --fasseg-root R --trees 100 50 25 --stride 8

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

import argparse
import json
import tempfile
import time
from pathlib import Path


def _cut_models(model_dir, out_dir, trees: int) -> None:
    from faceseg.models import load_model
    from faceseg.steps.pose import load_pose_models

    poses, _ = load_pose_models(model_dir)
    out_dir.mkdir(parents=True)
    for pose in poses:
        model = load_model(Path(model_dir) / f"{pose}.joblib")
        forest = model.estimator
        if trees > len(forest.estimators_):
            raise ValueError(f"{model_dir}/{pose}.joblib has {len(forest.estimators_)} trees, not {trees}")
        forest.estimators_ = forest.estimators_[:trees]
        forest.n_estimators = trees
        model.save(out_dir / f"{pose}.joblib")
    (out_dir / "poses.json").write_text((Path(model_dir) / "poses.json").read_text())


def person_images(run_dir, fasseg_root, n_shards: int, dataset: str = "fasseg-V3") -> dict[int, list[dict]]:
    """{person: estimate_pose's image items} of the V3 training part, with the run's dlib landmark files."""
    from faceseg import paths
    from faceseg.datasets import fasseg_person, list_fasseg
    from faceseg.shards import shard_index, shard_name

    out: dict[int, list[dict]] = {}
    for r in list_fasseg(fasseg_root, "V3", "train"):
        shard = shard_name(shard_index(r.image_id, n_shards))
        out.setdefault(fasseg_person(r.image_id), []).append({
            "image_id": r.image_id, "image": str(r.image_path), "landmarks": None,
            "detected": str(Path(run_dir) / paths.landmark_file(dataset, "train", shard, r.image_id))})
    return out


def run(run_dir, fasseg_root, trees=(100, 50, 25), stride: int = 8, experiment: str = "icme2017",
        model: str = "rf", n_shards: int = 2, threads: int = 2) -> dict[int, dict]:
    """{trees: {"seconds_per_photo", method: pose_scores}}."""
    from faceseg import paths
    from faceseg.datasets import fasseg_pose
    from faceseg.pose import pose_scores, sorted_poses
    from faceseg.steps.pose import estimate_pose_shard, pose_cv_estimates

    images = person_images(run_dir, fasseg_root, n_shards)
    results = {}
    for k in trees:
        with tempfile.TemporaryDirectory() as scratch:
            files, seconds, photos = [], 0.0, 0
            for person, items in sorted(images.items()):
                model_dir = Path(run_dir) / paths.pose_model_dir("fasseg-V3", experiment, model,
                                                                 f"without-person{person:02d}")
                cut = Path(scratch) / f"without-person{person:02d}"
                _cut_models(model_dir, cut, k)
                start = time.perf_counter()
                out = Path(scratch) / f"person{person:02d}.npz"
                estimate_pose_shard(cut, items, out, tile_size=256, stride=stride, threads=threads)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--fasseg-root", required=True)
    parser.add_argument("--trees", type=int, nargs="+", default=[100, 50, 25])
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    results = run(args.run_dir, args.fasseg_root, args.trees, args.stride, threads=args.threads)
    methods = list(next(iter(results.values())))[1:]
    print("\n| method | " + " | ".join(f"{k} trees" for k in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for m in methods:
        print(f"| {m} | " + " | ".join(f"{r[m]['accuracy']:.3f} / {r[m]['mae_deg']:.2f}" for r in results.values())
              + " |")
    print("| estimate, s per photo | " + " | ".join(f"{r['seconds_per_photo']:.2f}" for r in results.values()) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
