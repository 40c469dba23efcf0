"""The benchmark command runs end to end (quick mode: tiny models, figures not meaningful) and writes its JSON."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_bench_quick_runs_and_writes_every_stage(tmp_path, fasseg_root):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "faceseg.bench", "--fasseg", str(fasseg_root), "--quick",
                           "--scaling", "2", "4", "--out", str(out), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    stages = results["stages"]
    for key in ("dense_features_1_thread", "skimage_mbf_1_thread", "sampled_features", "merge", "train_rf",
                "train_hgb", "train_mlp", "segment_rf", "segment_mlp", "segment_rf_4mp", "sampled_features_4mp",
                "train_mlp_2_epochs_x10", "scaling_2", "scaling_4"):
        assert key in stages, key
        assert stages[key]["peak_rss_mb"] > 50 and stages[key]["wall_s"] > 0
    assert stages["merge_x10"]["rows"] == 10 * stages["merge"]["rows"]
    import yaml
    from conftest import REPO

    from faceseg.features import feature_names

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert results["experiment"] == "best"
    assert results["n_features"] == len(feature_names(config["experiments"]["best"]["features"], 68))
    assert set(results["ratios"]) >= {"dense_vs_skimage_1_thread", "mlp_rss_x10_vs_x1", "scaling_time_per_image"}
    assert "| dense_features_1_thread" in proc.stdout


def test_bench_refuses_a_folder_without_fasseg(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "faceseg.bench", "--fasseg", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--fasseg must name a FASSEG folder holding V1/" in proc.stderr


def test_lapa_scale_benchmark_runs_the_workflow_and_reports_its_overhead(tmp_path):
    """Small sizes (figures meaningless): the dry run, two real runs, and the job-overhead table of each."""
    out = tmp_path / "lapa.json"
    proc = subprocess.run([sys.executable, "-m", "faceseg.bench", "--lapa-scale", "--lapa-dry-images", "300",
                           "--lapa-runs", "20", "40", "--out", str(out), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())["lapa_scale"]
    dry = results["dry_run"]
    assert dry["images"] == 300 and dry["jobs"] > 10 and dry["peak_rss_mb"] > 50
    for n in ("20", "40"):
        run = results["runs"][n]
        overhead = run["job_overhead"]
        # Every training image went through one extract_features job of its shard, every test image
        # through segment_images and decide_labels (one model).
        assert overhead["extract_features"]["images"] == int(n)
        assert overhead["segment_images"]["images"] == overhead["decide_labels"]["images"] == run["test_images"]
        assert overhead["all"]["job_wall_s"] > overhead["all"]["compute_s"] > 0
    assert results["time_per_image_ratio"] > 0
    assert "(a) dry run of the default configuration on 300 images" in proc.stdout
    rerun = subprocess.run([sys.executable, "-m", "faceseg.bench", "--job-overhead", str(tmp_path / "work/run_20"),
                            "--out", str(tmp_path / "o.json")], capture_output=True, text=True)
    assert rerun.returncode == 0 and "| segment_images" in rerun.stdout, rerun.stderr[-2000:]
