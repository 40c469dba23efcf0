"""The workflow on a real one-node SLURM cluster, through workflow/profiles/slurm.

Skipped, with the reason, only where SLURM cannot be installed or started
(.ci/run installs it from Debian's packages).
"""

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO
from slurm_cluster import LocalSlurm, unavailable_reason
from workflow_run import MODELS, TINY, snakemake, write_config

from faceseg.shards import assign_shards

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]

IMAGES = {"train": 4, "test": 4}
# The test cluster has no accounting database: squeue answers the status
# queries (README: Cluster (SLURM)). Quick status checks to keep the
# test short; successful jobs' SLURM logs kept to show that every job went
# through sbatch.
SLURM_ARGS = [
    "--workflow-profile", str(REPO / "workflow/profiles/slurm"),
    "--slurm-status-command", "squeue",
    "--slurm-keep-successful-logs",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
]


def slurm_command(workdir, *extra):
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *SLURM_ARGS, *extra]


def run_slurm(workdir, *extra):
    proc = subprocess.run(slurm_command(workdir, *extra), capture_output=True, text=True)
    return proc, proc.stdout + proc.stderr


def metrics(workdir):
    return {m: (workdir / "results/reports/fasseg/default" / m / "metrics.json").read_text() for m in MODELS}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm_state")).start()
    yield slurm
    slurm.stop()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, fasseg_root):
    workdir = tmp_path_factory.mktemp("local")
    write_config(workdir, fasseg_root=str(fasseg_root), max_images=IMAGES, run_experiments=["default"])
    start = time.monotonic()
    snakemake(workdir)
    return workdir, time.monotonic() - start


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory, fasseg_root):
    workdir = tmp_path_factory.mktemp("slurm")
    write_config(workdir, fasseg_root=str(fasseg_root), max_images=IMAGES, run_experiments=["default"])
    start = time.monotonic()
    proc, output = run_slurm(workdir)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, output[-6000:]
    return workdir, output, elapsed


def images(fasseg_root, split):
    """The first IMAGES[split] image ids of a FASSEG V1 split, as the workflow lists them."""
    from faceseg.datasets import list_images

    return [r.image_id for r in list_images("fasseg", fasseg_root, split, "V1")[: IMAGES[split]]]


def submissions(output):
    """(job id, SLURM log path) of every sbatch submission the plugin reported."""
    return [(int(i), log) for i, log in re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)", output)]


def test_slurm_run_goes_through_sbatch_in_batches_and_matches_the_local_run(cluster, slurm_run, local_run,
                                                                           fasseg_root):
    workdir, output, slurm_seconds = slurm_run
    local_dir, local_seconds = local_run
    jobs = submissions(output)
    assert jobs, "no job was submitted to SLURM"
    # Every job id the plugin reported was accepted by this cluster's slurmctld,
    # and SLURM wrote its log.
    assert {i for i, _ in jobs} <= cluster.job_ids_submitted()
    for job_id, log in jobs:
        assert log.endswith(f"/{job_id}.log") and Path(log).is_file(), log
    # 8 images (4 train, 4 test): one job per shard and per-image rule, not one per image.
    shards = {split: len(assign_shards(images(fasseg_root, split), TINY["shards"]["fasseg"][split]))
              for split in IMAGES}
    per_rule = Counter(re.search(r"/rule_(\w+?)/", log)[1] for _, log in jobs if "/rule_" in log)
    assert not [log for _, log in jobs if "/group_" in log], "no job groups: shards are the batches"
    assert per_rule["detect_landmarks"] == shards["train"] + shards["test"]
    assert per_rule["extract_features"] == shards["train"]
    assert per_rule["segment_images"] == per_rule["decide_labels"] == len(MODELS) * shards["test"]
    assert metrics(workdir) == metrics(local_dir), "SLURM and local metrics differ"
    summary = {"local_seconds": round(local_seconds, 1), "slurm_seconds": round(slurm_seconds, 1),
               "slurm_jobs": len(jobs), "per_rule": dict(per_rule)}
    print("slurm vs local:", json.dumps(summary))


def test_cancelled_job_then_rerun_gives_the_same_metrics(cluster, slurm_run, local_run):
    workdir, _, _ = slurm_run
    # Train and evaluate the models again (the features stay), with no retries
    # so that the cancellation fails the run.
    for stage in ("models", "predictions", "reports"):
        shutil.rmtree(workdir / "results" / stage)
    cmd = slurm_command(workdir, "--retries", "0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cancelled = None
    deadline = time.monotonic() + 300
    try:
        while cancelled is None:
            assert proc.poll() is None, "snakemake ended before the training job ran"
            assert time.monotonic() < deadline, "the training job never started running"
            queue = subprocess.run(["squeue", "-h", "-o", "%i %T %k"], capture_output=True, text=True).stdout
            for job_id, state, comment in (line.split(maxsplit=2) for line in queue.splitlines()):
                # The plugin's comment: rule_<rule>_wildcards_<values joined by _> (dataset, experiment, model).
                if state == "RUNNING" and comment.startswith("rule_train_model") and comment.endswith("_rf"):
                    subprocess.run(["scancel", job_id], check=True)
                    cancelled = job_id
            time.sleep(0.2)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, "the run did not fail after its job was cancelled"
    failure = re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: '(\w+)'", output)
    assert failure, output[-4000:]
    print(f"cancelled job {cancelled}: SLURM status {failure[1]}")
    assert not (workdir / "results/models/fasseg/default/rf.faceseg").exists()
    rerun, output = run_slurm(workdir)
    assert rerun.returncode == 0, output[-6000:]
    # SLURM logs lie under <rule>/<wildcard values joined by _>/.
    assert any("train_model" in log and "default_rf" in log for _, log in submissions(output)), \
        "the rerun did not train the forest"
    assert metrics(workdir) == metrics(local_run[0])
