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


def test_lapa_sizes_benchmark_times_each_size_framed_and_as_is(tmp_path, fasseg_root):
    """Quick mode (two sizes, two faces, tiny models; figures meaningless): every step timed per size, both ways."""
    out = tmp_path / "sizes.json"
    proc = subprocess.run([sys.executable, "-m", "faceseg.bench", "--lapa-sizes", "--quick", "--fasseg",
                           str(fasseg_root), "--out", str(out), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["sizes"]) == {"0.2", "0.6"} and results["framing"]["face_scale"] > 0
    for size in results["sizes"].values():
        for label in ("framed", "as_is"):
            steps = size[label]
            assert {"extract_features", "segment_images rf", "segment_images mlp", "decide_labels",
                    "score_decisions"} <= set(steps)
            assert all(v > 0 for v in steps.values())
    # As is, the canvas is the image; framed, a face grown with its image is brought back to one scale.
    assert results["sizes"]["0.6"]["as_is"]["canvas_mp"] > 2.5 * results["sizes"]["0.2"]["as_is"]["canvas_mp"]
    framed = [results["sizes"][s]["framed"]["canvas_mp"] for s in ("0.2", "0.6")]
    assert abs(framed[1] / framed[0] - 1) < 0.2
    assert set(results["mlp"]["rows_per_s"]) >= {"1"} and results["ratios"]["sizes"] == ["0.2", "0.6"]
    assert "Per-image cost by size" in proc.stdout


def test_amdahl_speedup_from_two_measured_rates():
    from faceseg.bench.sizes import amdahl_speedup

    # 1.5x at 2 threads: a third of the work is serial; at 64 threads 1 / (1/3 + 2/3 / 64).
    assert amdahl_speedup(100.0, 150.0, 2, 64) == pytest.approx(1 / (1 / 3 + 2 / 3 / 64))
    assert amdahl_speedup(100.0, 200.0, 2, 64) == pytest.approx(64)  # perfect scaling stays perfect
    assert amdahl_speedup(100.0, 90.0, 2, 64) == pytest.approx(1)  # slower with more threads: no speedup


def test_the_lapa_estimate_adds_up_the_measured_costs(tmp_path):
    """A hand-made run folder and size costs: the estimate is the documented arithmetic on them."""
    from conftest import REPO

    from faceseg.bench.sizes import estimate_full_lapa
    from faceseg.bench.workflow import LAPA_SPLITS

    run = tmp_path / "run"
    for rule, wall, compute, images in (("extract_features", 12.0, 10.0, 20), ("segment_images", 6.0, 5.0, 10)):
        (run / "benchmarks" / rule).mkdir(parents=True)
        (run / "benchmarks" / rule / "0.tsv").write_text(f"s\th:m:s\n{wall}\t0:00:12\n")
        (run / "logs" / rule).mkdir(parents=True)
        (run / "logs" / rule / "0.log").write_text(f"... shard compute {compute} s for {images} images\n")
    for rule, name, seconds in (("train_model", "rf", 30.0), ("train_model", "hgb", 60.0),
                                ("merge_features", "m", 3.0)):
        (run / "benchmarks" / rule / "best").mkdir(parents=True, exist_ok=True)
        (run / "benchmarks" / rule / "best" / f"{name}.tsv").write_text(f"s\n{seconds}\n")
    steps = {"extract_features": 1.0, "segment_images rf": 2.0, "segment_images hgb": 3.0,
             "segment_images mlp": 1.5, "decide_labels": 0.5, "score_decisions": 4.0, "canvas_mp": 0.3}
    results = {"sizes": {"0.2": {"framed": steps}, "2.1": {"framed": steps}},
               "mlp": {"rows_per_s": {"1": 100000, "2": 150000}}}
    estimate = estimate_full_lapa(results, run, REPO / "config.yaml", cores=64)
    startup = (12.0 + 6.0) / (10.0 + 5.0)
    assert estimate["startup_ratio"] == pytest.approx(startup, abs=1e-3)
    # Default LaPa configuration: 6 experiments; rf and mlp in each, hgb in best and best-image-only.
    assert estimate["experiments"] == 6 and estimate["models"] == 14
    hours = estimate["per_image_cpu_hours"]
    assert hours["extract_features"] == pytest.approx(LAPA_SPLITS["train"] * 6 * 1.0 * startup / 3600, abs=0.01)
    assert hours["segment_images"] == pytest.approx(4000 * (6 * 2.0 + 6 * 1.5 + 2 * 3.0) * startup / 3600, abs=0.01)
    assert hours["score_decisions"] == pytest.approx(2000 * 14 * 4.0 * startup / 3600, abs=0.01)
    # The 6 MLPs train side by side on 8 threads each (64 // 8 = 8 at a time: one wave).
    mlp_hours = 8 * LAPA_SPLITS["train"] * 1000 / (100000 * (1 / (1 / 3 + 2 / 3 / 8))) / 3600
    assert estimate["mlp"]["threads_per_job"] == 8 and estimate["mlp"]["waves"] == 1
    assert estimate["mlp"]["hours"] == pytest.approx(mlp_hours, abs=0.002)
    parts = (estimate["per_image_hours"] + estimate["merge_hours"] + estimate["tree_training_hours"]
             + estimate["mlp"]["hours"])
    assert estimate["total_hours"] == pytest.approx(parts, abs=0.01)
    # Scheduled, no shorter than an MLP's chain (its experiment's merge, then the MLP, then its images),
    # nor than all the CPU time on every core.
    cpu_hours = sum(hours.values()) / 64
    assert estimate["scheduled_hours"] > max(estimate["mlp"]["hours"] + estimate["merge_hours"], cpu_hours)


def test_the_schedule_runs_jobs_side_by_side_as_their_inputs_and_cores_allow():
    from faceseg.bench.sizes import schedule

    jobs = {"a": (1, 10.0, ()), "b": (1, 10.0, ()), "c": (2, 5.0, ("a", "b")), "d": (1, 3.0, ("c",)),
            "e": (1, 20.0, ("a",))}
    # a and b side by side (10 s); c needs both cores but e (ready at 10 s) took one: c waits for e (30 s), then d.
    assert schedule(jobs, 2) == pytest.approx(10 + 20 + 5 + 3)
    assert schedule(jobs, 3) == pytest.approx(10 + 20)  # c and d run beside e
    assert schedule({"x": (8, 4.0, ())}, 2) == pytest.approx(4.0)  # more threads than cores: all of them


def test_descriptor_tile_benchmark_prints_memory_by_tile_and_stride(tmp_path, fasseg_root):
    out = tmp_path / "descriptor.json"
    proc = subprocess.run([sys.executable, "-m", "faceseg.bench", "--descriptor-tiles", "--fasseg", str(fasseg_root),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tiles = json.loads(out.read_text())["tiles"]
    assert {(t["tile"], t["stride"]) for t in tiles} == {(s, k) for s in (64, 128, 256) for k in (1, 4)}
    by = {(t["tile"], t["stride"]): t for t in tiles}
    assert all(t["features"] == 1862 for t in tiles)
    # The output is the tile's described pixels x 1,862 float32; the peak holds it and the window's cell maps.
    assert by[(256, 1)]["output_mb"] == pytest.approx(256 * 256 * 1862 * 4 / 1e6, abs=0.1)
    assert by[(256, 4)]["peak_mb"] < by[(256, 1)]["peak_mb"] / 4
    assert "| 256 | 4 |" in proc.stdout
