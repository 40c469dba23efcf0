"""Performance benchmark on real FASSEG images: speed per megapixel, peak memory per stage, scaling.

    python -m faceseg.bench --fasseg ../shared/data/fasseg [--experiment best] [--out bench.json] [--scaling 100 1000]
    python -m faceseg.bench --fasseg ../shared/data/fasseg --segment-command MODEL... [--photos 10] [--jobs N]

Every stage runs in a fresh Python process (as a Snakemake job does), so its
peak RSS is its own, imports included. Figures are printed as a table and
written as JSON. The feature set and model parameters are those of one
experiment of config.yaml (``--experiment``, default ``best``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from faceseg.bench.stages import DATASET, N_LANDMARKS, run_stage
from faceseg.config import ConfigError

# -- orchestration --------------------------------------------------------------

def _fasseg_items(root: Path, split: str, work: Path, limit: int | None):
    from faceseg.datasets import list_images
    from faceseg.steps.landmarks import detect_landmarks

    items = []
    for rec in list_images(DATASET, root, split, "V1")[:limit]:
        lm = work / "landmarks" / split / f"{rec.image_id}.txt"
        if not lm.exists():
            lm.parent.mkdir(parents=True, exist_ok=True)
            detect_landmarks(rec.image_path, lm)
        items.append({"image": str(rec.image_path), "labels": str(rec.label_path), "landmarks": str(lm)})
    return items


def _generated_items(sources, n: int, work: Path, side: int = 500):
    """``n`` images of ``side`` x ``side`` (0.25 MP) made from real ones by random scaling and cropping."""
    import cv2
    import numpy as np

    from faceseg.datasets import FASSEG, read_labels
    from faceseg.io import read_image, read_landmarks, write_landmarks, write_png

    rng = np.random.default_rng(0)
    folder = work / f"generated_{side}"
    folder.mkdir(parents=True, exist_ok=True)
    loaded = []
    for item in sources:
        image = read_image(item["image"])
        loaded.append((image, read_labels(FASSEG, item["labels"], image.shape),
                       read_landmarks(item["landmarks"], image.shape)))
    palette = np.array(FASSEG.colours, np.uint8)
    items = []
    for i in range(n):
        path = folder / f"{i:05d}.png"
        item = {"image": str(path), "labels": str(folder / f"{i:05d}_label.png"),
                "landmarks": str(folder / f"{i:05d}.txt")}
        items.append(item)
        if path.exists():
            continue
        image, labels, points = loaded[i % len(loaded)]
        h, w = labels.shape
        scale = side / min(h, w) * rng.uniform(1.0, 1.15)
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        big_labels = cv2.resize(labels, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST)
        y0 = int(rng.integers(0, big.shape[0] - side + 1))
        x0 = int(rng.integers(0, big.shape[1] - side + 1))
        crop = big[y0:y0 + side, x0:x0 + side]
        crop_labels = big_labels[y0:y0 + side, x0:x0 + side]
        pts = np.clip(points * scale - (x0, y0), 0, side - 1)
        write_png(path, np.ascontiguousarray(crop))
        write_png(item["labels"], palette[crop_labels])
        write_landmarks(item["landmarks"], pts)
    return items


def run(fasseg_root: Path, work: Path, scaling=(100, 1000), n_dense: int = 10, n_segment: int = 5,
        quick: bool = False, experiment_name: str = "best", config_path="config.yaml") -> dict:
    """All stages. ``quick``: a few images and tiny models, to check that the benchmark runs (figures meaningless)."""
    from faceseg.config import (
        ConfigError,
        experiment_features,
        load_config,
        model_settings,
    )
    from faceseg.features import feature_names, needs_atlas, resolve_config
    from faceseg.models import MODEL_NAMES

    config = load_config(config_path, {"dataset": DATASET, "fasseg_version": "V1", "fasseg_root": str(fasseg_root)})
    if experiment_name not in config["experiments"]:
        raise ConfigError(f"--experiment {experiment_name!r} is not in {config_path}; "
                          f"defined experiments: {sorted(config['experiments'])}")
    experiment = config["experiments"][experiment_name]
    model_params = {kind: model_settings(config, experiment_name, kind) for kind in MODEL_NAMES}
    for params in model_params.values():
        params.pop("enabled")
    big_mp = 4.0
    if quick:
        n_dense, n_segment, big_mp = 2, 1, 0.5
        experiment["sampling"]["samples_per_image"] = 500
        model_params["rf"]["n_estimators"] = 4
        model_params["hgb"]["max_iter"] = 5
        model_params["mlp"]["epochs"] = 1
    features = resolve_config(experiment_features(config, experiment_name))
    sampling = experiment["sampling"]
    cores = os.cpu_count() or 1
    train = _fasseg_items(fasseg_root, "train", work, 3 if quick else None)
    test = _fasseg_items(fasseg_root, "test", work, n_segment)
    results = {"machine": {"cores": cores, "python": sys.version.split()[0]}, "experiment": experiment_name,
               "n_features": len(feature_names(features, N_LANDMARKS)), "stages": {}}
    stages = results["stages"]

    def record(key, name, **kwargs):
        print(f"  {key} ...", flush=True)
        stages[key] = run_stage(name, **kwargs)

    atlas = None
    if needs_atlas(features):
        atlas = str(work / "label_atlas.npz")
        record("label_atlas", "atlas", items=train, out_path=atlas)
    dense_items = train[:n_dense]
    record("dense_features_1_thread", "dense", items=dense_items, config=features, workers=1, atlas=atlas)
    record(f"dense_features_{cores}_processes", "dense", items=dense_items, config=features, workers=cores,
           atlas=atlas)
    record("skimage_mbf_1_thread", "skimage", items=dense_items, workers=1)
    record(f"skimage_mbf_{cores}_threads", "skimage", items=dense_items, workers=cores)
    stores = work / "stores"
    record("sampled_features", "sampled", items=train, config=features, sampling=sampling, out_dir=str(stores),
           atlas=atlas)
    store_paths = [str(stores / f"{i}.zarr") for i in range(len(train))]
    record("merge", "merge", stores=store_paths, out_store=str(work / "train.zarr"))
    models = {}
    for kind in MODEL_NAMES:
        params = dict(model_params[kind])
        if kind == "mlp":
            params["device"] = "cpu"
        models[kind] = str(work / f"{kind}.faceseg")
        record(f"train_{kind}", "train", kind=kind, store=str(work / "train.zarr"), out_model=models[kind],
               params=params, threads=cores, atlas=atlas)
    for kind, path in models.items():
        record(f"segment_{kind}", "segment", model_path=path, items=test, threads=cores)
        for stride in (2, 4):  # segmentation.stride: the model classifies 1 pixel in stride**2
            record(f"segment_{kind}_stride{stride}", "segment", model_path=path, items=test, threads=cores,
                   stride=stride)
    record("segment_rf_4mp", "segment", model_path=models["rf"], items=test[:1], threads=cores, upscale_to_mp=big_mp)
    record("sampled_features_4mp", "sampled", items=[_upscaled(test[0], work, big_mp)], config=features,
           sampling=sampling, out_dir=str(work / "stores_4mp"), atlas=atlas)
    # Memory against the size of the training store: the same stores merged 10 times over.
    record("merge_x10", "merge", stores=store_paths, out_store=str(work / "train_x10.zarr"), repeat=10)
    mlp_params = model_params["mlp"] | {"device": "cpu", "epochs": 2}
    record("train_mlp_2_epochs", "train", kind="mlp", store=str(work / "train.zarr"),
           out_model=str(work / "m1.faceseg"), params=mlp_params, threads=cores, atlas=atlas)
    record("train_mlp_2_epochs_x10", "train", kind="mlp", store=str(work / "train_x10.zarr"),
           out_model=str(work / "m10.faceseg"), params=mlp_params, threads=cores, atlas=atlas)
    rf_cap = model_params["rf"] | {"max_train_samples": 100000, "n_estimators": 4 if quick else 20}
    record("train_rf_20_trees_cap_100k", "train", kind="rf", store=str(work / "train.zarr"),
           out_model=str(work / "r1.faceseg"), params=rf_cap, threads=cores, atlas=atlas)
    record("train_rf_20_trees_cap_100k_x10", "train", kind="rf", store=str(work / "train_x10.zarr"),
           out_model=str(work / "r10.faceseg"), params=rf_cap, threads=cores, atlas=atlas)
    for n in scaling:
        items = _generated_items(train, n, work)
        record(f"scaling_{n}", "scaling", items=items, config=features, sampling=sampling,
               out_dir=str(work / f"scaling_{n}"), workers=cores, atlas=atlas)
    _derive(results, cores, scaling)
    return results


def _upscaled(item, work: Path, mp: float):
    import cv2
    import numpy as np

    from faceseg.datasets import FASSEG, read_labels
    from faceseg.io import read_image, read_landmarks, write_landmarks, write_png

    image = read_image(item["image"])
    f = (mp * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
    labels = read_labels(FASSEG, item["labels"], image.shape)
    out = {k: str(work / f"4mp.{k}.png") for k in ("image", "labels")}
    out["landmarks"] = str(work / "4mp.txt")
    write_png(out["image"], cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC))
    big = cv2.resize(labels, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
    write_png(out["labels"], np.array(FASSEG.colours, np.uint8)[big])
    write_landmarks(out["landmarks"], read_landmarks(item["landmarks"]) * f)
    return out


def _derive(results, cores, scaling):
    s = results["stages"]
    results["ratios"] = {
        "dense_vs_skimage_1_thread": s["dense_features_1_thread"]["s_per_mp"] / s["skimage_mbf_1_thread"]["s_per_mp"],
        f"dense_vs_skimage_{cores}_cores": s[f"dense_features_{cores}_processes"]["s_per_mp"]
        / s[f"skimage_mbf_{cores}_threads"]["s_per_mp"],
        "mlp_rss_x10_vs_x1": s["train_mlp_2_epochs_x10"]["peak_rss_mb"] / s["train_mlp_2_epochs"]["peak_rss_mb"],
        "rf_capped_rss_x10_vs_x1": s["train_rf_20_trees_cap_100k_x10"]["peak_rss_mb"]
        / s["train_rf_20_trees_cap_100k"]["peak_rss_mb"],
    }
    if len(scaling) >= 2:
        a, b = s[f"scaling_{scaling[0]}"], s[f"scaling_{scaling[-1]}"]
        results["ratios"]["scaling_time_per_image"] = b["s_per_image"] / a["s_per_image"]
        results["ratios"]["scaling_peak_rss"] = (max(b["peak_rss_mb"], b["worker_peak_rss_mb"])
                                                / max(a["peak_rss_mb"], a["worker_peak_rss_mb"]))


def format_table(results) -> str:
    lines = [f"faceseg benchmark: {results['machine']['cores']} cores, {results['n_features']} features "
             f"(experiment {results.get('experiment', '?')})", "",
             f"| {'stage':34s} | {'s/MP':>8s} | {'other':>26s} | {'wall s':>8s} | {'peak RSS MB':>11s} |",
             f"| {'-' * 34} | {'-' * 7}: | {'-' * 25}: | {'-' * 7}: | {'-' * 10}: |"]
    for key, r in results["stages"].items():
        other = ""
        if "s_per_image" in r:
            other = f"{r['s_per_image']:.3f} s/image"
        if "rows" in r:
            other = f"{r['rows']} rows"
        if "worker_peak_rss_mb" in r:
            other += f", workers {r['worker_peak_rss_mb']:.0f} MB"
        if "n_features" in r:
            other = f"{r['n_features']} features"
        if "seconds" in r and "rows" not in r:
            other = f"{r['seconds']:.1f} s"
        s_per_mp = f"{r['s_per_mp']:.3f}" if "s_per_mp" in r else ""
        lines.append(f"| {key:34s} | {s_per_mp:>8s} | {other:>26s} | {r['wall_s']:8.1f} | {r['peak_rss_mb']:11.0f} |")
    lines += ["", "ratios:"] + [f"  {k}: {v:.3f}" for k, v in results["ratios"].items()]
    return "\n".join(lines)


def _workflow_bench(args) -> int:
    from faceseg.bench import workflow as workflow_bench

    results = {}
    if args.job_overhead:
        results["job_overhead"] = workflow_bench.job_overhead(args.job_overhead)
        print(f"per-shard rules of {args.job_overhead}: summed job wall time against the compute inside the jobs")
        print(workflow_bench.format_overhead(results["job_overhead"]))
    if args.lapa_scale:
        with tempfile.TemporaryDirectory(prefix="faceseg-lapa-bench-") as tmp:
            work = args.work or Path(tmp)
            counts = None
            if args.lapa_dry_images:
                total = sum(workflow_bench.LAPA_SPLITS.values())
                counts = {k: max(1, round(v * args.lapa_dry_images / total))
                          for k, v in workflow_bench.LAPA_SPLITS.items()}
            results["lapa_scale"] = workflow_bench.run_lapa_scale(work, tuple(args.lapa_runs), dry_counts=counts)
        print(workflow_bench.format_lapa_scale(results["lapa_scale"]))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


def _sizes_bench(args, parser) -> int:
    from faceseg.bench import sizes

    if args.fasseg is None or not (args.fasseg / "V1").is_dir():
        parser.error(f"--lapa-sizes needs --fasseg, a FASSEG folder holding V1/, got {args.fasseg}")
    with tempfile.TemporaryDirectory(prefix="faceseg-sizes-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = sizes.run(args.fasseg.resolve(), work, args.config, args.experiment, quick=args.quick)
    print(sizes.format_table(results))
    if args.job_overhead:
        results["lapa_estimate"] = sizes.estimate_full_lapa(results, args.job_overhead, args.config)
        print(sizes.format_estimate(results["lapa_estimate"]))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceseg.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--fasseg", type=Path, help="FASSEG folder holding V1/ (e.g. ../shared/data/fasseg)")
    parser.add_argument("--config", default="config.yaml", help="the configuration (default: config.yaml here)")
    parser.add_argument("--experiment", default="best", help="experiment of the configuration whose features and "
                        "models are measured (default: best)")
    parser.add_argument("--out", type=Path, default=Path("bench.json"), help="where to write the figures as JSON")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--scaling", type=int, nargs="*", default=[100, 1000],
                        help="numbers of generated 0.25 MP images for the scaling stage")
    parser.add_argument("--quick", action="store_true",
                        help="a few images and tiny models: checks that the benchmark runs; the figures mean nothing")
    scale = parser.add_argument_group("the workflow at LaPa's scale (instead of the stages above)")
    scale.add_argument("--lapa-scale", action="store_true",
                       help="generate LaPa layouts; time a dry run of the default configuration on 22,176 images "
                            "and real runs on --lapa-runs training images")
    scale.add_argument("--lapa-runs", type=int, nargs="*", default=[200, 2000], metavar="N",
                       help="training images of the real runs (default: 200 2000)")
    scale.add_argument("--lapa-dry-images", type=int, default=None, metavar="N",
                       help="images of the dry run's layout, split as LaPa's (default: LaPa's 22,176)")
    scale.add_argument("--job-overhead", type=Path, metavar="RUN_DIR",
                       help="a finished run's folder: per-shard rules' summed job time against their compute")
    command = parser.add_argument_group("faceseg segment's speed (instead of the stages above)")
    command.add_argument("--segment-command", nargs="+", metavar="MODEL",
                         help="time the installed faceseg segment command with these models on V1 test photos, "
                              "beside scikit-image's features")
    command.add_argument("--photos", type=int, default=10, help="V1 test photos per call (default: 10)")
    command.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                         help="faceseg segment --jobs, and scikit-image's threads (default: the cores)")
    command.add_argument("--repeats", type=int, default=3, help="medians of this many repeats (default: 3)")
    sizes = parser.add_argument_group("LaPa at its real sizes (instead of the stages above)")
    sizes.add_argument("--lapa-sizes", action="store_true",
                       help="per-image cost of FASSEG faces resized to LaPa's sizes (0.15-2.1 MP), framed and as "
                            "they are, and the MLP's training rate; with --job-overhead RUN_DIR (a default FASSEG "
                            "run), the estimated full LaPa run on 64 cores")
    descriptor = parser.add_argument_group("the ICME 2017 descriptor's tiles (instead of the stages above)")
    descriptor.add_argument("--descriptor-tiles", action="store_true",
                            help="peak memory and time of one tile of the icme2017 experiment's features, by tile "
                                 "size and stride")
    pose = parser.add_argument_group("the head-pose forests' tree count (instead of the stages above)")
    pose.add_argument("--pose-trees", type=Path, metavar="RUN_DIR",
                      help="a folder where the pose_cv rule ran on FASSEG V3: its out-of-fold pose forests cut to "
                           "--trees and scored by the same cross-validation by person, side by side")
    pose.add_argument("--trees", type=int, nargs="+", default=[100, 50, 25], help="(default: 100 50 25)")
    pose.add_argument("--pose-stride", type=int, default=8, help="pose.stride of the estimates (default: 8)")
    files = parser.add_argument_group("model files against pickles (instead of the stages above)")
    files.add_argument("--model-files", type=Path, metavar="MODEL_DIR",
                       help="a folder of a run's models (results/models/fasseg/best): each as a model file and as "
                            "the pickle earlier versions wrote, side by side: size, load time, faceseg segment time, "
                            "labels")
    args = parser.parse_args(argv)
    if args.model_files:
        from faceseg.bench import model_files

        if args.fasseg is None or not (args.fasseg / "V1").is_dir():
            parser.error(f"--model-files needs --fasseg, a FASSEG folder holding V1/, got {args.fasseg}")
        results = model_files.run(args.model_files, args.fasseg.resolve(), args.photos, args.repeats)
        print(model_files.format_table(results))
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.pose_trees:
        from faceseg.bench import pose_trees

        if args.fasseg is None or not (args.fasseg / "V3").is_dir():
            parser.error(f"--pose-trees needs --fasseg, a FASSEG folder holding V3/, got {args.fasseg}")
        results = pose_trees.run(args.pose_trees, args.fasseg.resolve(), args.trees, args.pose_stride,
                                 threads=os.cpu_count() or 1)
        print(pose_trees.format_table(results))
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.descriptor_tiles:
        from faceseg.bench import descriptor as descriptor_bench

        if args.fasseg is None or not (args.fasseg / "V1").is_dir():
            parser.error(f"--descriptor-tiles needs --fasseg, a FASSEG folder holding V1/, got {args.fasseg}")
        results = descriptor_bench.run(args.fasseg.resolve(), args.config)
        print(descriptor_bench.format_table(results))
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.lapa_sizes:
        return _sizes_bench(args, parser)
    if args.job_overhead or args.lapa_scale:
        return _workflow_bench(args)
    if args.fasseg is None or not (args.fasseg / "V1").is_dir():
        parser.error(f"--fasseg must name a FASSEG folder holding V1/, got {args.fasseg}")
    if args.segment_command:
        from faceseg.bench import photo as photo_bench

        results = photo_bench.run(args.segment_command, args.fasseg.resolve(), args.photos, args.jobs, args.repeats)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(photo_bench.format_table(results))
        print(f"\nwritten to {args.out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="faceseg-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            results = run(args.fasseg.resolve(), work, tuple(args.scaling), quick=args.quick,
                          experiment_name=args.experiment, config_path=args.config)
        except ConfigError as exc:
            parser.error(str(exc))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(results))
    print(f"\nwritten to {args.out}")
    return 0

