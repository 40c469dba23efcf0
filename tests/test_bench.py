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
