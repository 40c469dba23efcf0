"""A one-node SLURM cluster on localhost, from Debian's packages, for the cluster test.

.ci/run installs `slurmctld slurmd slurm-client munge`; this module writes a
slurm.conf, starts munged, slurmctld and slurmd in the foreground (so their
process ids are known) and stops exactly those processes afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# one-node test cluster written by faceseg's tests"
PARTITION = "batch"  # the partition named in workflow/profiles/slurm
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def unavailable_reason() -> str | None:
    """Why a test cluster cannot be started here, or None."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} not found); .ci/run installs Debian's "
                "slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        return "the test cluster's daemons must be started as root"
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text():
        return f"{SLURM_CONF} belongs to a real SLURM installation; the test does not replace it"
    running = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True, text=True).stdout.split()
    if running:
        return f"a slurmctld is already running (pid {', '.join(running)}); the test starts its own"
    return None


def _slurm_conf(state: Path, host: str) -> str:
    # The node declares 16 CPUs and 64 GB, like a small cluster node, so the
    # slurm profile's requests fit as they are; config_overrides keeps slurmd
    # from draining a node that has less. Nothing enforces the limits
    # (task/none, proctrack/linuxproc): jobs share the real cores.
    return f"""{MARKER}
ClusterName=faceseg-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
# squeue must still show a finished job when Snakemake asks (no accounting DB).
MinJobAge=600
NodeName={host} CPUs=16 RealMemory=64000 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    def __init__(self, state: Path):
        self.state = Path(state)
        self.host = socket.gethostname().split(".")[0]
        self.processes: dict[str, subprocess.Popen] = {}
        self.wrote_conf = False

    @property
    def controller_log(self) -> Path:
        return self.state / "slurmctld.log"

    def start(self) -> LocalSlurm:
        (self.state / "ctld").mkdir(parents=True, exist_ok=True)
        (self.state / "spool").mkdir(exist_ok=True)
        self._start_munge()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(_slurm_conf(self.state, self.host))
        self.wrote_conf = True
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._spawn("slurmd", ["slurmd", "-D"])
        self._wait_until_idle()
        return self

    def _start_munge(self):
        if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
            return  # a munged is already serving credentials
        for folder in ("/run/munge", "/var/lib/munge", "/var/log/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        if not Path("/etc/munge/munge.key").exists():
            subprocess.run(["setpriv", "--reuid", "munge", "--regid", "munge", "--init-groups", "mungekey", "--create"],
                           check=True)
        # setpriv execs munged in place, so the process id is munged's own.
        self._spawn("munged", ["setpriv", "--reuid", "munge", "--regid", "munge", "--init-groups", "munged",
                               "--foreground"])
        deadline = time.monotonic() + 20
        while subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode != 0:
            self._check_alive("munged")
            if time.monotonic() > deadline:
                raise RuntimeError("munged did not start serving credentials")
            time.sleep(0.2)

    def _spawn(self, name, cmd):
        log = open(self.state / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def _check_alive(self, name):
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is not None:
            out = (self.state / f"{name}.out").read_text()[-2000:]
            raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{out}")

    def _wait_until_idle(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for name in self.processes:
                self._check_alive(name)
            states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.split()
            if states == ["idle"]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not become idle (sinfo says {states})")
            time.sleep(0.5)

    def job_ids_submitted(self) -> set[int]:
        """Ids of every job that slurmctld accepted from sbatch, read from its log."""
        import re

        text = self.controller_log.read_text()
        return {int(m) for m in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text)}

    def stop(self):
        subprocess.run(["scancel", "--user", "root"], capture_output=True)
        # Stop only the daemons started here, by their process ids; slurmd
        # before slurmctld, munged last.
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.wrote_conf and MARKER in SLURM_CONF.read_text():
            SLURM_CONF.unlink()
