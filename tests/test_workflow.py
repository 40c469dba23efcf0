"""End-to-end Snakemake runs on a few real FASSEG images and on the generated LaPa fixture."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from conftest import REPO
from PIL import Image
from workflow_run import MODELS, TINY, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.e2e


def shard_of(image_id, split, dataset="fasseg"):
    from faceseg.shards import shard_index, shard_name

    return shard_name(shard_index(image_id, TINY["shards"][dataset][split]))


@pytest.fixture(scope="module")
def fasseg_run(tmp_path_factory, fasseg_root):
    workdir = tmp_path_factory.mktemp("fasseg_run")
    write_config(workdir, fasseg_root=str(fasseg_root))
    snakemake(workdir)
    # Keep the first run's metrics: later tests change the config and rerun.
    for model in MODELS:
        report = workdir / "results/reports/fasseg/default" / model / "metrics.json"
        (workdir / f"first_metrics_{model}.json").write_text(report.read_text())
    return workdir


def test_fasseg_outputs_exist_and_are_sane(fasseg_run, fasseg_root):
    for model in MODELS:
        report = fasseg_run / "results/reports/fasseg/default" / model
        metrics = json.loads((report / "metrics.json").read_text())
        assert metrics["n_images"] == 2 and metrics["skipped"] == []
        assert set(metrics["per_class"]) == {"background", "skin", "hair", "eyes", "nose", "mouth"}
        assert 0.6 < metrics["pixel_accuracy"] <= 1 and 0 < metrics["mean_iou"] <= 1
        assert sum(np.asarray(metrics["confusion_matrix"]).ravel()) == sum(
            c["support"] for c in metrics["per_class"].values())
        assert (report / "per_class.csv").read_text().startswith("class,iou,f1,precision,recall,support")
        assert "mean IoU" in (report / "report.md").read_text()
        # What made the numbers: the package's fingerprint, faceseg's and the libraries' versions.
        assert {"faceseg", "package", "libraries", "stage_code"} <= set(metrics["provenance"])
        assert f"Made by faceseg {metrics['provenance']['faceseg']}" in (report / "report.md").read_text()
        pred_dir = fasseg_run / "results/predictions/fasseg/default" / model
        for image_id in ("1", "10"):  # first two test images by name
            part = pred_dir / shard_of(image_id, "test")
            labels = np.asarray(Image.open(part / "labels" / f"{image_id}.png"))
            source = Image.open(fasseg_root / "V1" / "Test_RGB" / f"{image_id}.png")
            assert labels.shape == (source.height, source.width)
            assert labels.max() <= 5 and len(np.unique(labels)) >= 4
            assert np.asarray(Image.open(part / "colour" / f"{image_id}.png")).shape[2] == 3
            assert json.loads((part / "confusion" / f"{image_id}.json").read_text())["image_id"] == image_id
    shard_path = fasseg_run / "results/features/fasseg/default/train" / f"{shard_of('1', 'train')}.zarr"
    shard = zarr.open_group(str(shard_path), mode="r")
    assert shard.metadata.zarr_format == 3
    store = shard[str(shard.attrs["image_ids"].index("1"))]
    assert store.attrs["image_id"] == "1"
    assert store["X"].shape[0] == store["y"].shape[0] <= 1500
    assert store["X"].shape[1] == len(store.attrs["feature_names"])
    assert "lm_dx_67" in store.attrs["feature_names"] and "atlas_nose" in store.attrs["feature_names"]
    from faceseg.atlas import load_label_atlas
    from faceseg.models import load_model

    atlas = load_label_atlas(fasseg_run / "results/features/fasseg/default/label_atlas.npz")
    assert atlas.ids == ("1", "11") and atlas.landmarks.shape == (2, 68, 2)
    assert load_model(fasseg_run / "results/models/fasseg/default/hgb.faceseg").label_atlas.ids == atlas.ids
    merged = zarr.open_group(str(fasseg_run / "results/features/fasseg/default/train.zarr"), mode="r")
    assert merged["X"].shape[0] == 3 * 1500
    lm = (fasseg_run / "results/landmarks/fasseg/test" / shard_of("1", "test") / "1.txt").read_text().splitlines()
    assert lm[0] == "68" and len(lm) == 69
    from faceseg.probability_store import read_probability_shard

    attrs, stored = read_probability_shard(
        fasseg_run / "results/probabilities/fasseg/default/hgb" / f"{shard_of('1', 'test')}.zarr")
    assert attrs["stride"] == 4 and stored[0].proba().shape[2] == 6
    # Made by the code its rule's fingerprint names (the model records its own stage's).
    from faceseg.models import load_model
    from faceseg.provenance import stage_provenance

    segment_stage = stage_provenance(REPO / "workflow/scripts/segment_images.py",
                                     feature_groups=TINY["experiments"]["default"]["features"])
    assert attrs["provenance"]["stage_code"] == segment_stage["code"]
    model_provenance = load_model(fasseg_run / "results/models/fasseg/default/hgb.faceseg").info["provenance"]
    assert model_provenance["package"] == attrs["provenance"]["package"] and model_provenance["stage_code"]
    # The data: the pixel digests of the files each split used, the evaluation split's in metrics.json and
    # summary.md, the training split's in the model; each file's digest is the published file's.
    import hashlib

    from faceseg.data_digest import load_manifest

    manifest = load_manifest()
    metrics_data = json.loads((fasseg_run / "results/reports/fasseg/default/hgb/metrics.json").read_text())["data"]
    test_keys = [f"V1/Test_{kind}/{i}" for i in ("1", "10") for kind in ("RGB", "Labels")]
    digest = hashlib.sha256("".join(f"{k} {manifest[k]}\n" for k in sorted(test_keys)).encode()).hexdigest()
    assert metrics_data == {"split": "test", "pixel_digest": digest, "n_files": 4, "changed_files_accepted": [],
                            "unreadable": []}
    assert load_model(fasseg_run / "results/models/fasseg/default/hgb.faceseg").info["data"]["n_files"] == 6
    summary_md = (fasseg_run / "results/reports/fasseg/summary.md").read_text()
    assert f"Every row was scored on the same files: test split: 4 files, pixels {digest[:16]}." in summary_md
    decision = json.loads((fasseg_run / "results/models/fasseg/default/hgb.decision.json").read_text())
    assert decision["smooth_sigma"] == 4 and decision["prior_correction"] == 0.5 and decision["stride"] == 4
    for rule in ("detect_landmarks", "extract_features", "label_atlas", "train_model", "segment_images",
                 "decide_labels", "evaluate"):
        assert list((fasseg_run / "logs" / rule).rglob("*.log")), f"no log for {rule}"
        assert list((fasseg_run / "benchmarks" / rule).rglob("*.tsv")), f"no benchmark for {rule}"


def _planned_outputs(workdir, env) -> list[str]:
    """The outputs of every job a dry run plans (Snakemake's job listing)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", "-n"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return re.findall(r"^\s+output: (.+)$", proc.stdout, re.M)


def _rules(outputs) -> set[str]:
    """Which stage wrote each planned output, read from its path."""
    stages = {"features": "extract_features", "models": "train_model", "probabilities": "segment_images",
              "predictions": "decide_labels", "landmarks": "detect_landmarks"}
    found = set()
    for out in outputs:
        for path in out.split(", "):
            parts = Path(path).parts
            if parts[1] == "reports":
                name = Path(path).name
                found.add({"metrics.json": "evaluate", "per_class.csv": "evaluate", "per_class.html": "evaluate",
                           "report.md": "evaluate", "summary.md": "summarise", "summary.csv": "summarise",
                           "confusion.png": "plot_confusion", "overlays": "plot_overlays",
                           "iou_by_class.png": "plot_iou_by_class", "per_image.csv": "evaluate",
                           "paired.csv": "summarise", "paired_differences.png": "plot_paired_differences",
                           "feature_importance.png": "plot_feature_importance"}.get(name, name))
            elif parts[1] == "features":
                found.add("merge_features" if parts[-1] == "train.zarr" else stages["features"])
            elif parts[1] == "models":
                found.add("decision_settings" if path.endswith(".decision.json") else "train_model")
            else:
                found.add(stages.get(parts[1], parts[1]))
    return found


def test_a_library_code_change_reruns_the_stages_it_reaches(fasseg_run, tmp_path):
    """Rules carry a fingerprint of the faceseg code they run (faceseg.provenance): a copy of the package, put
    first on PYTHONPATH, is edited and the dry run says what would rerun."""
    run = tmp_path / "run"
    shutil.copytree(fasseg_run, run, symlinks=True)
    package = tmp_path / "src" / "faceseg"
    shutil.copytree(REPO / "src" / "faceseg", package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    assert _planned_outputs(run, env) == []

    def edited(module, old, new):
        path = package / module
        original = path.read_text()
        assert old in original, (module, old)
        path.write_text(original.replace(old, new, 1))
        try:
            return _planned_outputs(run, env)
        finally:
            path.write_text(original)

    # Comments and docstrings: nothing reruns.
    assert edited("features/hog.py", "    n_bins = params[\"orientations\"]\n",
                  "    # the number of orientation bins\n    n_bins = params[\"orientations\"]\n") == []
    assert edited("decision.py", "removes isolated errors.", "removes isolated errors (say).") == []
    # A change of what HOG computes: the experiment with HOG features reruns from its features on; grey-loc does not.
    outputs = edited("features/hog.py", "    return out\n", "    out *= 2\n    return out\n")
    assert outputs and not [o for o in outputs if "/grey-loc/" in o]
    assert {"extract_features", "merge_features", "train_model", "segment_images", "decide_labels", "evaluate",
            "summarise", "plot_confusion"} <= _rules(outputs)
    assert "detect_landmarks" not in _rules(outputs)
    # The decision chain's smoothing: decisions and what follows, for every experiment.
    outputs = edited("decision.py", "borderType=cv2.BORDER_REFLECT", "borderType=cv2.BORDER_REPLICATE")
    assert _rules(outputs) == {"decide_labels", "evaluate", "summarise", "plot_confusion", "plot_overlays",
                               "plot_iou_by_class", "plot_paired_differences"}
    assert any("/grey-loc/" in o for o in outputs)
    # Plotting code: only the plots that draw with it.
    outputs = edited("plots.py", "dpi=110", "dpi=100")
    assert outputs and _rules(outputs) <= {"plot_confusion", "plot_iou_by_class", "plot_overlays",
                                           "plot_paired_differences", "plot_feature_importance"}


def test_figures_and_snakemake_report(fasseg_run):
    reports = fasseg_run / "results/reports/fasseg"
    assert (reports / "iou_by_class.png").is_file()
    assert (reports / "default/rf/feature_importance.png").is_file()
    for model in MODELS:
        assert (reports / "default" / model / "confusion.png").is_file()
        overlays = sorted(p.name for p in (reports / "default" / model / "overlays").glob("*.png"))
        # 2 test images and report.overlays 3: each image once, best first
        assert len(overlays) == 2 and all(n.startswith("best_") for n in overlays), overlays
    snakemake(fasseg_run, "--report", "report.html")
    html = (fasseg_run / "report.html").read_text()
    for name in ("confusion.png", "feature_importance.png", "iou_by_class.png", "per_class.csv", "per_class.html",
                 "best_1_",
                 "fasseg / default", "fasseg / all experiments"):
        assert name in html, f"{name} is not in the report"
    assert planned_jobs(fasseg_run) == {}, "making the report changed the workflow's state"


def test_summary_lists_every_experiment_and_model(fasseg_run):
    import csv

    reports = fasseg_run / "results/reports/fasseg"
    with open(reports / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    ours = {(r["experiment"], r["model"], r["variant"]) for r in rows if r["source"] == "this run"}
    configured = {("default", m) for m in MODELS} | {("grey-loc", "rf")}
    assert {(e, m) for e, m, v in ours if v == "as configured"} == configured
    # The tiny models smooth their probabilities, so each also has its per-pixel row.
    assert {(e, m) for e, m, v in ours if v.startswith("per-pixel")} == configured
    for r in rows:
        if r["source"] == "this run" and r["variant"] == "as configured":
            metrics = json.loads((reports / r["experiment"] / r["model"] / "metrics.json").read_text())
            assert float(r["mean_iou"]) == pytest.approx(metrics["mean_iou"])
            # Two test images: an interval from resampling them, in the csv as in metrics.json.
            assert [float(r["mean_iou_low"]), float(r["mean_iou_high"])] == pytest.approx(
                metrics["intervals"]["mean_iou"])
            assert 0 <= metrics["intervals"]["mean_iou"][0] <= metrics["intervals"]["mean_iou"][1] <= 1
            assert "(95% interval " in (reports / r["experiment"] / r["model"] / "report.md").read_text()
    assert any("ICIP 2015" in r["source"] for r in rows if r["variant"] == "published")
    md = (reports / "summary.md").read_text()
    assert "| grey-loc | rf |" in md and "## Published results on this dataset" in md
    forest = json.loads((reports / "grey-loc/rf/metrics.json").read_text())
    assert forest["n_images"] == 2 and not (reports / "grey-loc/mlp").exists()


def test_v3_person_split_writes_the_per_pose_table(tmp_path, fasseg_root):
    import csv

    write_config(tmp_path, fasseg_root=str(fasseg_root), fasseg_version="V3", v3_holdout_persons=[7],
                 max_images={"train": 4, "test": 3}, run_experiments=["grey-loc"],
                 pose={"experiments": ["grey-loc"], "models": ["rf"], "stride": 4})
    snakemake(tmp_path)
    reports = tmp_path / "results/reports/fasseg-V3"
    with open(reports / "per_pose.csv") as fh:
        rows = list(csv.DictReader(fh))
    ours = [r for r in rows if r["experiment_model"] == "grey-loc / rf"]
    # The first 3 images of person 7 by name: poses +15 (2 images) and +30.
    assert [(r["pose"], r["n_images"]) for r in ours] == [("+15", "2"), ("+30", "1")]
    assert all(0 <= float(r["recall_skin"]) <= 1 for r in ours)
    assert any(r["pose"] == "0" and r["recall_eyes"] == "0.5874" for r in rows), "the published anchor row"
    assert "| +15 | 2 |" in (reports / "per_pose.md").read_text()
    assert (reports / "summary.md").is_file()
    trained_on = json.loads((tmp_path / "results/features/fasseg-V3/grey-loc/train.zarr/zarr.json").read_text())
    assert not [i for i in trained_on["attributes"]["image_ids"] if "personne07" in i], "person 7 is held out"


def test_two_clean_runs_give_identical_metrics(fasseg_run, fasseg_root, tmp_path):
    write_config(tmp_path, fasseg_root=str(fasseg_root))
    snakemake(tmp_path)
    for model in MODELS:
        again = (tmp_path / "results/reports/fasseg/default" / model / "metrics.json").read_text()
        assert again == (fasseg_run / f"first_metrics_{model}.json").read_text(), f"{model} metrics differ"


def test_second_run_does_nothing(fasseg_run):
    assert planned_jobs(fasseg_run) == {}


def test_model_parameter_change_reruns_only_that_model(fasseg_run, fasseg_root):
    mlp_model = fasseg_run / "results/models/fasseg/default/mlp.faceseg"
    mlp_before = mlp_model.stat().st_mtime_ns
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12}})
    # grey-loc sets its own n_estimators, so only the default experiment's forest reruns.
    # The 2 test images lie in one shard.
    assert planned_jobs(fasseg_run) == {"train_model": 1, "segment_images": 1, "decide_labels": 1, "evaluate": 1,
                                        "plot_confusion": 1, "plot_overlays": 1, "plot_feature_importance": 1,
                                        "plot_iou_by_class": 1, "plot_paired_differences": 1,
                                        "summarise": 1, "all": 1}
    snakemake(fasseg_run)
    assert mlp_model.stat().st_mtime_ns == mlp_before
    assert planned_jobs(fasseg_run) == {}


def test_decision_parameter_change_reruns_only_the_decisions(fasseg_run, fasseg_root):
    """smooth_sigma, prior_correction and class_bias: no feature, training or probability job reruns."""
    before = {p: p.stat().st_mtime_ns for folder in ("models", "features", "probabilities", "landmarks")
              for p in (fasseg_run / "results" / folder).rglob("*") if p.is_file() and p.suffix != ".json"}
    metrics = fasseg_run / "results/reports/fasseg/default/mlp/metrics.json"
    old = json.loads(metrics.read_text())
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={
        "rf": {"n_estimators": 12, "class_bias": {"eyes": 0.8}},
        "mlp": {"smooth_sigma": 1.5, "prior_correction": 0.3}})
    # rf: both experiments' forests take the bias; mlp: the default experiment's.
    assert planned_jobs(fasseg_run) == {"decision_settings": 3, "decide_labels": 3, "evaluate": 3,
                                        "plot_confusion": 3, "plot_overlays": 3, "plot_iou_by_class": 1,
                                        "plot_paired_differences": 1,
                                        "summarise": 1, "all": 1}
    snakemake(fasseg_run)
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before, "a model, feature store or probability store was rewritten"
    new = json.loads(metrics.read_text())
    assert new["confusion_matrix"] != old["confusion_matrix"], "the new decision parameters were not applied"
    assert json.loads((fasseg_run / "results/models/fasseg/default/mlp.decision.json").read_text())[
        "smooth_sigma"] == 1.5
    assert planned_jobs(fasseg_run) == {}
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12}})
    snakemake(fasseg_run)
    assert metrics.read_text() == (fasseg_run / "first_metrics_mlp.json").read_text(), "back to the first figures"


def test_compare_two_runs_names_the_changed_decision(fasseg_run, fasseg_root, tmp_path):
    """faceseg compare on the run and a copy with another smoothing: the key differs, the code and data do not."""
    other = tmp_path / "other"
    shutil.copytree(fasseg_run, other, symlinks=True)
    write_config(other, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12},
                                                              "mlp": {"smooth_sigma": 1.5}})
    snakemake(other)
    exe = Path(sys.executable).with_name("faceseg")
    proc = subprocess.run([str(exe), "compare", str(fasseg_run), str(other), "--json", str(tmp_path / "c.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    mlp = proc.stdout.split("fasseg / default / mlp:")[1].split("\nfasseg / ")[0]
    assert "settings differs: decision.smooth_sigma: A 4, B 1.5" in mlp
    assert "code: the same" in mlp and "data: the same" in mlp
    # Two test images are too few to resample: the command says so rather than give an interval.
    assert "no paired comparison: a paired comparison needs at least 5 shared images, got 2" in mlp
    rows = json.loads((tmp_path / "c.json").read_text())
    assert {(r["experiment"], r["model"]) for r in rows if r["settings"]} == {("default", "mlp")}
    # The per-image scores pool to the table's figures.
    from faceseg.comparison import read_per_image_csv
    from faceseg.metrics import scores

    report = fasseg_run / "results/reports/fasseg/default/mlp"
    per_image = read_per_image_csv(report / "per_image.csv")
    metrics = json.loads((report / "metrics.json").read_text())
    assert scores(per_image.confusions.sum(axis=0), per_image.class_names)["per_class"] == metrics["per_class"]
    assert per_image.image_ids == ["1", "10"]


def test_an_added_training_image_reruns_only_its_shard(fasseg_run, fasseg_root):
    # The fourth training image by name, 12, lies in the other shard than 1, 10 and 11.
    assert shard_of("12", "train") != shard_of("1", "train") == shard_of("10", "train") == shard_of("11", "train")
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12}},
                 max_images={"train": 4})
    out = snakemake(fasseg_run, "-n").stdout
    per_image_job = r"(?:local)?rule (?:extract_features|detect_landmarks):\n(?:    .*\n)*?    output: (\S+)"
    planned = set(re.findall(per_image_job, out))
    new_shard = shard_of("12", "train")
    # grey-loc: only the new shard. default: its label atlas (first and last training image) now
    # includes 12, so both of its shards are described anew.
    assert planned == {f"results/landmarks/fasseg/train/{new_shard}",
                       f"results/features/fasseg/grey-loc/train/{new_shard}.zarr",
                       f"results/features/fasseg/default/train/{new_shard}.zarr",
                       f"results/features/fasseg/default/train/{shard_of('1', 'train')}.zarr"}, planned
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12}})
    assert planned_jobs(fasseg_run) == {}


def test_feature_change_reruns_features_and_downstream(fasseg_run, fasseg_root):
    write_config(fasseg_run, fasseg_root=str(fasseg_root), models={"rf": {"n_estimators": 12}},
                 experiments={"default": {"features": {"hog": {"cell_sizes": [8]}}}})
    assert planned_jobs(fasseg_run) == {
        "extract_features": 1, "merge_features": 1, "train_model": 3,
        "segment_images": 3, "decide_labels": 3, "evaluate": 3, "plot_confusion": 3, "plot_overlays": 3,
        "plot_feature_importance": 1, "plot_iou_by_class": 1, "plot_paired_differences": 1, "summarise": 1,
        "all": 1,
    }


def test_lapa_end_to_end_on_fixture(tmp_path, lapa_root):
    write_config(tmp_path, dataset="lapa", lapa_root=str(lapa_root))
    snakemake(tmp_path)
    for model in ("rf", "mlp"):
        metrics = json.loads((tmp_path / "results/reports/lapa/default" / model / "metrics.json").read_text())
        assert metrics["n_images"] == 2
        assert list(metrics["per_class"]) == [
            "background", "skin", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye", "nose",
            "upper_lip", "inner_mouth", "lower_lip", "hair"]
        assert metrics["mean_f1_foreground"] is not None
    shard = zarr.open_group(str(tmp_path / "results/features/lapa/default/train"
                                / f"{shard_of('train_0000', 'train', 'lapa')}.zarr"), mode="r")
    assert "train_0000" in shard.attrs["image_ids"]
    assert "lm_dy_105" in shard["0"].attrs["feature_names"]
    assert not (tmp_path / "results/landmarks").exists(), "annotated landmarks are used as they are"
    # Decision parameters chosen on val from its stored probabilities, by mean F1 over the face classes.
    decision = json.loads((tmp_path / "results/models/lapa/default/rf.decision.json").read_text())
    chosen = decision["chosen_on"]
    assert chosen["split"] == "val" and chosen["n_images"] == 2 and chosen["metric"] == "mean_f1_foreground"
    best = max(chosen["grid"], key=lambda g: g["score"])
    assert chosen["score"] == best["score"] and decision["smooth_sigma"] in (0, 1, 2, 4)
    assert len(chosen["grid"]) == 5 * 4
    assert "| default | rf | " in (tmp_path / "results/reports/lapa/summary.md").read_text().split(
        "## Decision parameters")[1]
    # Another grid: the choice and what follows it rerun, nothing before it.
    write_config(tmp_path, dataset="lapa", lapa_root=str(lapa_root),
                 decision_search={"split": {"lapa": "val"}, "prior_correction": [0, 1], "smooth_sigma": [0]})
    jobs = planned_jobs(tmp_path)
    assert set(jobs) == {"score_decisions", "choose_decision", "decide_labels", "evaluate", "summarise",
                         "plot_confusion", "plot_overlays", "plot_iou_by_class", "plot_paired_differences",
                         "all"}, jobs


def test_lapa_with_detected_landmarks(tmp_path, fasseg_root):
    from lapa_fixture import make_lapa_from_fasseg

    root = make_lapa_from_fasseg(tmp_path / "LaPa", fasseg_root)
    # FASSEG has no validation split to choose decisions on: the configured ones.
    write_config(tmp_path, dataset="lapa", lapa_root=str(root), landmarks={"lapa": "detected"},
                 models={"mlp": {"enabled": False}, "hgb": {"enabled": False}},
                 decision_search={"split": {"lapa": None}})
    snakemake(tmp_path)
    metrics = json.loads((tmp_path / "results/reports/lapa/default/rf/metrics.json").read_text())
    assert metrics["n_images"] == 2 and metrics["skipped"] == []
    assert metrics["per_class"]["hair"]["iou"] > 0.3
    shard = shard_of("face_1", "train", "lapa")
    lm = (tmp_path / "results/landmarks/lapa/train" / shard / "face_1.txt").read_text().splitlines()
    assert lm[0] == "68"
    store = zarr.open_group(str(tmp_path / "results/features/lapa/default/train" / f"{shard}.zarr"), mode="r")
    names = store["0"].attrs["feature_names"]
    assert "lm_dy_67" in names and "lm_dx_68" not in names  # the 68 detected points, not LaPa's 106


def test_lapa_runs_both_protocols_and_its_image_only_model_segments_photos(tmp_path, fasseg_root):
    """One LaPa run: an experiment on the annotated 106 points and its image-only twin on dlib's 68 (also_run);
    the summary's LaPa table says which is which, and the image-only model segments new photos with dlib."""
    from lapa_fixture import make_lapa_from_fasseg
    from skimage.data import astronaut

    root = make_lapa_from_fasseg(tmp_path / "LaPa", fasseg_root, annotated=True)
    features = {"colour": {"spaces": ["lab"]}, "location": {}, "landmarks": {}}
    sampling = {"samples_per_image": 1500, "seed": 0}
    write_config(tmp_path, dataset="lapa", lapa_root=str(root), run_experiments=["lm"],
                 experiments={"lm": {"features": features, "sampling": sampling},
                              "lm-image-only": {"features": features, "sampling": sampling, "landmarks": "detected"}},
                 dataset_settings={"lapa": {"also_run": ["lm-image-only"]}},
                 models={"mlp": {"enabled": False}, "hgb": {"enabled": False}},
                 decision_search={"split": {"lapa": None}})  # no validation split in this layout
    snakemake(tmp_path)
    table = (tmp_path / "results/reports/lapa/summary.md").read_text().split("## LaPa table")[1].split("\n## ")[0]
    assert "| lm / rf (this run) | annotated landmarks at test time" in table
    assert "| lm-image-only / rf (this run) | image only (landmarks detected by dlib) |" in table
    assert "| BASS (Y. Liu et al." in table
    from faceseg.models import load_model

    models = tmp_path / "results/models/lapa"
    assert load_model(models / "lm/rf.faceseg").n_landmarks == 106
    image_only = models / "lm-image-only/rf.faceseg"
    assert load_model(image_only).n_landmarks == 68
    # New photos: a FASSEG test photo the fixture does not hold, and scikit-image's astronaut.
    Image.fromarray(astronaut()).save(tmp_path / "astronaut.png")
    photos = [fasseg_root / "V1/Test_RGB/5.png", tmp_path / "astronaut.png"]
    exe = shutil.which("faceseg")
    proc = subprocess.run([exe, "segment", *map(str, photos), "--model", str(image_only), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for photo in photos:
        labels = np.asarray(Image.open(tmp_path / "out" / f"{photo.stem}_labels.png"))
        assert labels.shape == np.asarray(Image.open(photo)).shape[:2] and len(np.unique(labels)) >= 4
    refused = subprocess.run([exe, "segment", str(photos[0]), "--model", str(models / "lm/rf.faceseg"), "-o",
                              str(tmp_path / "out2")], capture_output=True, text=True)
    assert refused.returncode != 0 and "106" in refused.stdout + refused.stderr


def test_lint_is_clean(tmp_path, fasseg_root):
    write_config(tmp_path, fasseg_root=str(fasseg_root))
    proc = snakemake(tmp_path, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_schema_rejects_a_misspelt_key(tmp_path, fasseg_root):
    config = write_config(tmp_path, fasseg_root=str(fasseg_root))
    config["models"]["rf"]["n_estimator"] = 10
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "models.rf: Additional properties are not allowed ('n_estimator' was unexpected)" in output


@pytest.mark.parametrize("case, overrides, message", [
    ("unknown dataset", {"dataset": "celeba"}, "dataset: 'celeba' is not one of ['fasseg', 'lapa']"),
    ("unknown experiment", {"run_experiments": ["nope"]},
     "run_experiments names unknown experiment 'nope'; defined experiments: ['best', 'best-augmented', "
     "'best-image-only', 'default', 'grey-loc', 'icip2015', 'icme2017', 'landmarks', 'rees2019-grey-loc', "
     "'rees2019-rgb-loc-hog']"),
    ("wrong type", {"segmentation": {"tile_size": "big"}}, "segmentation.tile_size: 'big' is not of type 'integer'"),
    ("bad model parameter", {"models": {"mlp": {"epochs": 0}}}, "models.mlp.epochs: 0 is less than the minimum of 1"),
    ("missing split folder", {"fasseg_root": "{tmp}/nothere"}, "{tmp}/nothere/V1/Test_RGB: missing split folder"),
    ("empty split folder", {"fasseg_root": "{tmp}/empty"}, "{tmp}/empty/V1/Test_RGB: split folder holds no images"),
])
def test_bad_configuration_is_refused_before_any_job(tmp_path, fasseg_root, case, overrides, message):
    for sub in ("Train_RGB", "Train_Labels", "Test_RGB", "Test_Labels"):
        (tmp_path / "empty" / "V1" / sub).mkdir(parents=True)
    overrides = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in overrides.items()}
    write_config(tmp_path, **{"fasseg_root": str(fasseg_root), **overrides})
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0, f"{case}: the run did not fail"
    assert message.format(tmp=tmp_path) in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists(), f"{case}: outputs were written"


def _fasseg_copy(tmp_path, fasseg_root, counts=(("Train", 3), ("Test", 4))):
    import shutil

    root = tmp_path / "fasseg"
    for split, n in counts:
        for sub in ("RGB", "Labels"):
            (root / "V1" / f"{split}_{sub}").mkdir(parents=True)
            for i in range(1, n + 1):
                shutil.copy(fasseg_root / "V1" / f"{split}_{sub}" / f"{i}.png", root / "V1" / f"{split}_{sub}")
    return root


def test_a_truncated_image_fails_only_itself(tmp_path, fasseg_root):
    """A truncated training and a truncated test image: each is skipped with its reason, the others all scored."""
    root = _fasseg_copy(tmp_path, fasseg_root)
    bad_train = root / "V1" / "Train_RGB" / "2.png"
    bad_test = root / "V1" / "Test_RGB" / "3.png"
    for bad in (bad_train, bad_test):
        bad.write_bytes(bad.read_bytes()[:2000])
    write_config(tmp_path, fasseg_root=str(root), models={"mlp": {"enabled": False}, "hgb": {"enabled": False}},
                 max_images={"train": None, "test": None}, shards={"fasseg": {"train": 1, "test": 1}})
    snakemake(tmp_path)
    for name in ("default", "grey-loc"):
        metrics = json.loads((tmp_path / "results/reports/fasseg" / name / "rf/metrics.json").read_text())
        assert metrics["n_images"] == 3, "the other test images of the shard are all scored"
        assert [s["image_id"] for s in metrics["skipped"]] == ["3"]
        assert f"{bad_test}: not a readable image" in metrics["skipped"][0]["reason"]
        from faceseg.models import load_model

        model = load_model(tmp_path / "results/models/fasseg" / name / "rf.faceseg")
        assert model.info["training_images"] == ["1", "3"]
        assert [s["image_id"] for s in model.info["skipped_training_images"]] == ["2"]
        assert f"{bad_train}: not a readable image" in model.info["skipped_training_images"][0]["reason"]
    summary = (tmp_path / "results/reports/fasseg/summary.md").read_text()
    assert "## Skipped evaluation images (1)" in summary and f"{bad_test}: not a readable image" in summary
    import csv

    with open(tmp_path / "results/reports/fasseg/summary.csv") as fh:
        assert {r["n_skipped"] for r in csv.DictReader(fh) if r["source"] == "this run"} == {"1"}
    log = (tmp_path / "logs/segment_images/fasseg/default/rf/shard0000.log").read_text()
    assert f"{bad_test}: not a readable image" in log
    log = (tmp_path / "logs/extract_features/fasseg/default/train/shard0000.log").read_text()
    assert f"{bad_train}: not a readable image" in log
    assert not list((tmp_path / "results").rglob(".*.tmp-*")), "temporary outputs left behind"


def _kill_when(workdir, marker_glob, timeout=300):
    """Start snakemake, SIGKILL its whole process group once ``marker_glob`` matches a path."""
    import os
    import signal
    import time

    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not list(workdir.glob(marker_glob)):
            assert proc.poll() is None, f"snakemake ended before {marker_glob} appeared"
            assert time.monotonic() < deadline, f"{marker_glob} never appeared"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("stage, marker, unfinished", [
    ("feature extraction", "logs/extract_features/fasseg/default/train/*.log",
     "results/features/fasseg/default/train.zarr"),
    ("training", "logs/train_model/fasseg/default/mlp.log", "results/models/fasseg/default/mlp.faceseg"),
])
def test_killed_run_resumes_to_the_same_metrics(fasseg_run, fasseg_root, tmp_path, stage, marker, unfinished):
    write_config(tmp_path, fasseg_root=str(fasseg_root))
    _kill_when(tmp_path, marker)
    assert not (tmp_path / unfinished).exists(), f"the run was not killed during {stage}"
    snakemake(tmp_path, "--unlock")  # a killed snakemake leaves its lock, as after a crash
    snakemake(tmp_path, "--rerun-incomplete")
    for model in MODELS:
        resumed = (tmp_path / "results/reports/fasseg/default" / model / "metrics.json").read_text()
        assert resumed == (fasseg_run / f"first_metrics_{model}.json").read_text()
    assert not list((tmp_path / "results").rglob(".*.tmp-*")), "temporary outputs left behind"
