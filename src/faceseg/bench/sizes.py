"""LaPa at its real sizes: the cost of one image by its size, framed and as it is, and the MLP's training rate.

    python -m faceseg.bench --lapa-sizes --fasseg ../shared/data/fasseg [--out sizes.json]

No LaPa copy exists here, so real FASSEG V1 faces (dlib's landmarks) are
resized to LaPa's range of sizes (0.15 to 2.1 MP; LaPa's images are face
crops, so the face grows with the image, as here), their borders mirrored
out to LaPa's framing (:data:`LAPA_EYES_PER_WIDTH`) and saved as LaPa's are
(JPEG images, index label maps of LaPa's classes). Per size, one process
times the workflow's per-image steps on each image, single-threaded:
``extract_features`` (LaPa's 1000 samples), ``segment_images`` with each
model of the experiment (stride of the configuration) and ``decide_labels``,
with the configured LaPa framing and with none. The models are trained on
the same faces' samples with the configured parameters (small stores: their
trees are shallower than on LaPa's capped rows, so a tree model's prediction
is timed low). The MLP's training rate is measured in rows per second at 1
thread and at every core, on real rows of the experiment's features.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

#: Image sizes measured, megapixels (LaPa: about 0.15 to 2.1).
SIZES_MP = (0.15, 0.2, 0.3, 0.6, 1.0, 1.5, 2.1)
#: Eye distance over image width of the real LaPa images found (0.135 and 0.184; FASSEG's: about 0.37).
LAPA_EYES_PER_WIDTH = 0.16
#: LaPa's samples per training image (dataset_settings.lapa).
LAPA_SAMPLES = 1000


def _lapa_native(source: dict, work: Path) -> dict:
    """A FASSEG face as a LaPa image: its border mirrored out to LaPa's framing, its classes LaPa's."""
    import cv2

    from faceseg.datasets import FASSEG, read_labels
    from faceseg.features.landmarks import face_frame
    from faceseg.io import read_image, read_landmarks
    from faceseg.synthetic import FASSEG_TO_LAPA

    image = read_image(source["image"])
    labels = read_labels(FASSEG, source["labels"], image.shape)
    points = read_landmarks(source["landmarks"])
    side = int(round(face_frame(points, "eyes")[2] / LAPA_EYES_PER_WIDTH))  # a square this wide
    top, left = max(0, (side - image.shape[0]) // 2), max(0, (side - image.shape[1]) // 2)
    pad = (top, max(0, side - image.shape[0] - top), left, max(0, side - image.shape[1] - left))
    return _write_lapa_item(cv2.copyMakeBorder(image, *pad, cv2.BORDER_REFLECT),
                            FASSEG_TO_LAPA[cv2.copyMakeBorder(labels, *pad, cv2.BORDER_REFLECT)],
                            points + [left, top], work, Path(source["image"]).stem)


def _lapa_item(native: dict, work: Path, mp: float) -> dict:
    """A LaPa-like image (:func:`_lapa_native`) resized to ``mp`` megapixels."""
    import cv2

    from faceseg.io import read_image, read_label_image, read_landmarks

    image = read_image(native["image"])
    f = (mp * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
    big = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    labels = cv2.resize(read_label_image(native["labels"]), big.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    # Pixel centres: x' = f (x + 0.5) - 0.5.
    points = f * (read_landmarks(native["landmarks"]) + 0.5) - 0.5
    return _write_lapa_item(big, labels, points, work, f"{native['image_id']}_{mp:.2f}mp")


def _write_lapa_item(image, labels, points, work: Path, stem: str) -> dict:
    """Files as LaPa's: a JPEG image, an index label map, a landmark file."""
    from PIL import Image

    from faceseg.io import write_landmarks, write_png

    out = {"image_id": stem, "image": str(work / f"{stem}.jpg"), "labels": str(work / f"{stem}.png"),
           "landmarks": str(work / f"{stem}.txt"), "megapixels": image.shape[0] * image.shape[1] / 1e6}
    Image.fromarray(image).save(out["image"], quality=95)
    write_png(out["labels"], labels)
    write_landmarks(out["landmarks"], points)
    return out


def _train_models(sources, work: Path, features: dict, sampling: dict, model_params: dict, framing) -> dict:
    from faceseg.steps.extraction import extract_training_features, merge_training_features
    from faceseg.steps.training import train_model

    tag = "framed" if framing else "as_is"
    stores = []
    for item in sources:
        store = work / tag / f"{item['image_id']}.zarr"
        extract_training_features("lapa", item["image_id"], item["image"], item["labels"], store, features,
                                  sampling, item["landmarks"], 68, split="train", framing=framing)
        stores.append(store)
    merge_training_features(stores, work / tag / "train.zarr")
    models = {}
    for kind, params in model_params.items():
        models[kind] = work / tag / f"{kind}.faceseg"
        cpu = {"device": "cpu"} if kind == "mlp" else {}
        train_model(kind, work / tag / "train.zarr", models[kind], {**params, **cpu}, threads=1,
                    info={"dataset": "lapa", "experiment": "bench"})
    return models


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def image_costs(items, features: dict, sampling: dict, models: dict, framing, stride: int, tile_size: int,
                search: dict) -> dict:
    """Median single-threaded seconds per image of each per-image step, for images of one size.

    ``search``: the ``decision_search`` grids that ``score_decisions`` scores on a validation image.
    """
    from faceseg.datasets import LAPA, read_labels
    from faceseg.decision import prior_weights
    from faceseg.models import load_model
    from faceseg.steps.extraction import sample_training_image
    from faceseg.steps.segmentation import decide_image, image_probabilities
    from faceseg.steps.validation import score_image

    loaded = {kind: load_model(path) for kind, path in models.items()}
    times = {"extract_features": [], **{f"segment_images {k}": [] for k in loaded}, "decide_labels": [],
             "score_decisions": []}
    canvas_mp = []
    for item in items:
        times["extract_features"].append(_timed(sample_training_image, "lapa", item["image_id"], item["image"],
                                                item["labels"], features, sampling, item["landmarks"], 68,
                                                framing=framing))
        for kind, model in loaded.items():
            start = time.perf_counter()
            grid, shape, _, canvas = image_probabilities(model, item["image_id"], item["image"], item["landmarks"],
                                                         68, tile_size, 1, stride)
            times[f"segment_images {kind}"].append(time.perf_counter() - start)
        canvas_mp.append(canvas.size[0] * canvas.size[1] / 1e6)
        times["decide_labels"].append(_timed(
            decide_image, LAPA, model.kind, item["image_id"], grid, stride, shape, model.decision,
            model.class_weights, item["labels"], None, canvas))
        start = time.perf_counter()
        truth = read_labels(LAPA, item["labels"], shape)
        weights = [prior_weights(model.info, a) for a in search["prior_correction"]]
        score_image(grid, stride, shape, canvas, truth, weights, search["smooth_sigma"], None, LAPA.n_classes)
        times["score_decisions"].append(time.perf_counter() - start)
    out = {step: round(statistics.median(values), 4) for step, values in times.items()}
    out["canvas_mp"] = round(statistics.median(canvas_mp), 3)
    return out


def mlp_rates(store, params: dict, thread_counts) -> dict:
    """The MLP's training rows per second (one epoch on ``store``) at each thread count."""
    from faceseg.models import train
    from faceseg.store import open_store

    group = open_store(store)
    rows = group["X"].shape[0]
    rates = {}
    for threads in thread_counts:
        seconds = _timed(train, "mlp", group, {**params, "epochs": 1, "device": "cpu"}, threads=threads)
        rates[threads] = round(rows / seconds)
    return {"rows": rows, "rows_per_s": rates}


def run(fasseg_root: Path, work: Path, config_path="config.yaml", experiment_name: str = "best",
        n_images: int = 5, sizes=SIZES_MP, mlp_rows: int = 200_000, quick: bool = False) -> dict:
    """Every size's per-image costs, framed (LaPa's framing) and as is, and the MLP's rates."""
    import os

    from faceseg.bench.speed import _fasseg_items
    from faceseg.config import experiment_features, framing_settings, load_config, model_settings
    from faceseg.features import resolve_config
    from faceseg.store import merge_stores

    config = load_config(config_path, {"dataset": "lapa"})
    framing = framing_settings(config)
    features = resolve_config(experiment_features(config, experiment_name))
    sampling = {**config["experiments"][experiment_name]["sampling"], "samples_per_image": LAPA_SAMPLES}
    model_params = {}
    for kind in ("rf", "hgb", "mlp"):
        params = model_settings(config, experiment_name, kind)
        if params.pop("enabled"):
            model_params[kind] = params
    if quick:
        n_images, sizes, mlp_rows = 2, (0.2, 0.6), 5000
        model_params = {k: {**p, **{"rf": {"n_estimators": 4}, "hgb": {"max_iter": 5}, "mlp": {"epochs": 1}}[k]}
                        for k, p in model_params.items()}
    stride, tile_size = config["segmentation"]["stride"], config["segmentation"]["tile_size"]
    (work / "native").mkdir(parents=True, exist_ok=True)
    sources = [_lapa_native(s, work / "native") for s in _fasseg_items(fasseg_root, "train", work, n_images)]
    results = {"experiment": experiment_name, "framing": framing, "stride": stride, "n_images": len(sources),
               "cores": os.cpu_count() or 1, "sizes": {}}
    models = {}
    for label, settings in (("framed", framing), ("as_is", None)):
        print(f"  training the {label} models ...", flush=True)
        models[label] = _train_models(sources, work, features, sampling, model_params, settings)
    # The libraries' first-call set-up (thread pools, OpenCV, the allocator) is paid once per job: not timed.
    image_costs(sources[:1], features, sampling, models["framed"], framing, stride, tile_size,
                config["decision_search"])
    for mp in sizes:
        folder = work / f"{mp:.2f}mp"
        folder.mkdir(parents=True, exist_ok=True)
        items = [_lapa_item(s, folder, mp) for s in sources]
        results["sizes"][str(mp)] = {label: image_costs(items, features, sampling, models[label], settings, stride,
                                                        tile_size, config["decision_search"])
                                     for label, settings in (("framed", framing), ("as_is", None))}
        print(f"  {mp} MP: {results['sizes'][str(mp)]}", flush=True)
    # The MLP's rate on real rows: the framed per-image stores, repeated to mlp_rows rows.
    from faceseg.store import open_store

    stores = sorted(p for p in (work / "framed").glob("*.zarr") if p.name != "train.zarr")
    repeat = max(1, mlp_rows // open_store(work / "framed" / "train.zarr")["X"].shape[0])
    merge_stores(stores * repeat, work / "mlp_rows.zarr")
    results["mlp"] = mlp_rates(work / "mlp_rows.zarr", model_params.get("mlp", {}),
                               sorted({1, results["cores"]}))
    print(f"  mlp: {results['mlp']}", flush=True)
    _derive(results, sizes)
    return results


def _derive(results: dict, sizes) -> None:
    small, large = str(min(sizes, key=lambda s: abs(s - 0.2))), str(max(sizes))
    ratios = {}
    for label in ("framed", "as_is"):
        a, b = results["sizes"][small][label], results["sizes"][large][label]
        ratios[label] = {step: round(b[step] / a[step], 2) for step in a if step != "canvas_mp"}
    results["ratios"] = {"sizes": [small, large], **ratios}


def amdahl_speedup(rate_1: float, rate_n: float, n: int, threads: int) -> float:
    """The speedup at ``threads`` of Amdahl's law with the serial share that rates at 1 and ``n`` threads give."""
    measured = rate_n / rate_1
    serial = min(max((n / measured - 1) / (n - 1), 0.0), 1.0) if n > 1 else 1.0
    return 1.0 / (serial + (1 - serial) / threads)


def format_table(results: dict) -> str:
    steps = [k for k in next(iter(results["sizes"].values()))["framed"] if k != "canvas_mp"]
    head = "| size MP | " + " | ".join(f"{s} framed / as is (s)" for s in steps) + " | canvas MP |"
    lines = [f"Per-image cost by size, single-threaded, median of {results['n_images']} FASSEG faces resized "
             f"(experiment {results['experiment']}, framing {results['framing']}, stride {results['stride']})", "",
             head, "|" + " ---: |" * (len(steps) + 2)]
    for mp, r in results["sizes"].items():
        cells = [f"{r['framed'][s]:.3f} / {r['as_is'][s]:.3f}" for s in steps]
        lines.append(f"| {mp} | " + " | ".join(cells) + f" | {r['framed']['canvas_mp']:.3f} |")
    small, large = results["ratios"]["sizes"]
    lines += ["", f"{large} MP over {small} MP: framed {results['ratios']['framed']}",
              f"{' ' * len(large)}                as is  {results['ratios']['as_is']}", "",
              f"MLP training, rows per second on {results['mlp']['rows']} rows: {results['mlp']['rows_per_s']}"]
    return "\n".join(lines)


def estimate_full_lapa(results: dict, fasseg_run, config_path="config.yaml", cores: int = 64) -> dict:
    """Hours of a full LaPa run of the default configuration on ``cores`` cores, from measured costs.

    Per-image jobs: every image costs what a 2.1 MP one costs here (the
    largest LaPa size: an upper bound), for each experiment (its features
    timed with the measured experiment's, the richest) and model, times the
    start-up share of the per-shard jobs measured on ``fasseg_run`` (a
    default FASSEG run: job wall time over compute). They spread over all
    cores. An MLP trains on every sampled row for its epochs at the rate
    measured at 1 thread, sped up by Amdahl's law with the serial share
    the 1-thread and all-core rates give, at its kind's training threads;
    its jobs run side by side, ``cores // threads`` at a time. Forest and boosting
    training and the merges come from ``fasseg_run``'s jobs, scaled by
    their rows (LaPa's caps over FASSEG's 120,000 rows) and the trees
    linearly by their training threads (optimistic). LaPa's landmarks are
    annotated: no detection. ``total_hours`` adds the parts one after the
    other; ``scheduled_hours`` runs the same jobs, shard by shard, through
    :func:`schedule` on ``cores`` cores (the configured shard counts).
    """
    from faceseg.bench.workflow import LAPA_SPLITS, job_overhead, job_seconds
    from faceseg.config import experiment_models, load_config
    from faceseg.models import MODEL_KINDS

    config = load_config(config_path, {"dataset": "lapa"})
    experiments = config["run_experiments"]
    models = [(name, kind, params) for name in experiments for kind, params in experiment_models(config, name).items()]
    largest = results["sizes"][str(max(float(s) for s in results["sizes"]))]["framed"]
    overhead = job_overhead(fasseg_run)
    startup = overhead["all"]["ratio"]
    n_train, n_val, n_test = LAPA_SPLITS["train"], LAPA_SPLITS["val"], LAPA_SPLITS["test"]
    cpu_s = {
        "extract_features": n_train * len(experiments) * largest["extract_features"] * startup,
        "segment_images": (n_val + n_test) * sum(largest[f"segment_images {k}"] for _, k, _ in models) * startup,
        "decide_labels": n_test * len(models) * largest["decide_labels"] * startup,
        "score_decisions": n_val * len(models) * largest["score_decisions"] * startup,
    }
    per_shard_s = sum(cpu_s.values()) / cores
    rates = {int(k): v for k, v in results["mlp"]["rows_per_s"].items()}
    n_measured = max(rates)
    cap = MODEL_KINDS["mlp"].training_threads or cores
    threads = min(cap, cores)
    speedup = amdahl_speedup(rates[1], rates[n_measured], n_measured, threads)
    rows = n_train * config["dataset_settings"]["lapa"]["samples_per_image"]
    # The MLP jobs run side by side, cores // threads at a time.
    mlp_jobs = [p["epochs"] * rows / (rates[1] * speedup) for _, k, p in models if k == "mlp"]
    waves = -(-len(mlp_jobs) // max(1, cores // threads))
    mlp_s = waves * max(mlp_jobs, default=0.0)
    fasseg_rows = 20 * 6000
    fasseg_threads = 2
    tree_s = 0.0
    def tree_seconds(kind, params):
        """A tree model's training: FASSEG's, scaled by the rows and, linearly, by its threads."""
        per_job = statistics.median(job_seconds(fasseg_run, "train_model", kind) or [0.0])
        tree_rows = min(params.get("max_train_samples") or rows, rows)
        return per_job * tree_rows / fasseg_rows * fasseg_threads / min(MODEL_KINDS[kind].training_threads or cores,
                                                                          cores)

    for _, kind, params in models:
        if kind in ("rf", "hgb"):
            tree_s += tree_seconds(kind, params)
    merge_s = max(job_seconds(fasseg_run, "merge_features"), default=0.0) * rows / fasseg_rows
    total = per_shard_s + merge_s + tree_s + mlp_s
    # The same jobs, scheduled: what runs side by side in a real run.
    shards = config["shards"]["lapa"]
    jobs = {}
    for name in experiments:
        extract = [f"extract {name} {i}" for i in range(shards["train"])]
        for job in extract:
            jobs[job] = (1, n_train / shards["train"] * largest["extract_features"] * startup, ())
        jobs[f"merge {name}"] = (1, merge_s, tuple(extract))
    for name, kind, params in models:
        key = f"{name} {kind}"
        if kind == "mlp":
            jobs[f"train {key}"] = (threads, max(mlp_jobs), (f"merge {name}",))
        else:
            jobs[f"train {key}"] = (min(MODEL_KINDS[kind].training_threads or cores, cores),
                                    tree_seconds(kind, params), (f"merge {name}",))
        per_val, per_test = n_val / shards["val"], n_test / shards["test"]
        segment = largest[f"segment_images {kind}"] * startup
        scores = []
        for i in range(shards["val"]):
            jobs[f"segment val {key} {i}"] = (1, per_val * segment, (f"train {key}",))
            jobs[f"score {key} {i}"] = (1, per_val * largest["score_decisions"] * startup, (f"segment val {key} {i}",))
            scores.append(f"score {key} {i}")
        jobs[f"choose {key}"] = (1, 1.0, tuple(scores))
        for i in range(shards["test"]):
            jobs[f"segment test {key} {i}"] = (1, per_test * segment, (f"train {key}",))
            jobs[f"decide {key} {i}"] = (1, per_test * largest["decide_labels"] * startup,
                                         (f"segment test {key} {i}", f"choose {key}"))
    scheduled_s = schedule(jobs, cores)
    return {
        "cores": cores, "experiments": len(experiments), "models": len(models), "startup_ratio": round(startup, 3),
        "per_image_cpu_hours": {k: round(v / 3600, 2) for k, v in cpu_s.items()},
        "per_image_hours": round(per_shard_s / 3600, 3), "merge_hours": round(merge_s / 3600, 3),
        "tree_training_hours": round(tree_s / 3600, 3),
        "mlp": {"rows_per_s_1_thread": rates[1], f"rows_per_s_{n_measured}_threads": rates[n_measured],
                "threads_per_job": threads, "speedup_per_job": round(speedup, 2), "jobs": len(mlp_jobs),
                "waves": waves, "hours": round(mlp_s / 3600, 3)},
        "total_hours": round(total / 3600, 2),
        "scheduled_hours": round(scheduled_s / 3600, 2), "scheduled_jobs": len(jobs),
    }


def schedule(jobs: dict, cores: int) -> float:
    """Seconds until every job is done: ``jobs`` maps a name to ``(threads, seconds, names it waits for)``.

    Jobs start in the order they become ready, each as soon as its threads
    are free; one that does not fit holds back the ones behind it (so a job
    on every core is not starved by small ones). Snakemake's own scheduler
    chooses among ready jobs more cleverly: this errs long.
    """
    import heapq
    from collections import defaultdict

    waiting = {name: set(deps) for name, (_, _, deps) in jobs.items()}
    dependents = defaultdict(list)
    for name, (_, _, deps) in jobs.items():
        for dep in deps:
            dependents[dep].append(name)
    ready = [name for name, deps in waiting.items() if not deps]
    running: list = []
    free, now, head = cores, 0.0, 0
    while head < len(ready) or running:
        while head < len(ready) and min(jobs[ready[head]][0], cores) <= free:
            name = ready[head]
            head += 1
            free -= min(jobs[name][0], cores)
            heapq.heappush(running, (now + jobs[name][1], name))
        now, name = heapq.heappop(running)
        free += min(jobs[name][0], cores)
        for later in dependents[name]:
            waiting[later].discard(name)
            if not waiting[later]:
                ready.append(later)
    return now


def format_estimate(estimate: dict) -> str:
    mlp = estimate["mlp"]
    return "\n".join([
        f"Estimated full LaPa run, default configuration ({estimate['experiments']} experiments, "
        f"{estimate['models']} models), {estimate['cores']} cores, every image at 2.1 MP:",
        f"  per-image jobs: {estimate['per_image_hours']} h ({estimate['per_image_cpu_hours']} CPU hours; "
        f"job start-up x{estimate['startup_ratio']})",
        f"  merges {estimate['merge_hours']} h, forest and boosting training {estimate['tree_training_hours']} h",
        f"  MLP training {mlp['hours']} h ({mlp['jobs']} jobs of {mlp['threads_per_job']} threads side by side in "
        f"{mlp['waves']} wave(s); Amdahl speedup per job {mlp['speedup_per_job']} from {mlp['rows_per_s_1_thread']} "
        f"rows/s at 1 thread)",
        f"  total {estimate['total_hours']} h one part after the other; scheduled ({estimate['scheduled_jobs']} jobs "
        f"started as their inputs and cores allow): {estimate['scheduled_hours']} h",
    ])
