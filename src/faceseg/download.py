"""Download the public FASSEG repository (GitHub archive) into a local folder."""

from __future__ import annotations

import logging
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from faceseg.io import InputError, atomic_output

log = logging.getLogger(__name__)

FASSEG_ARCHIVES = (
    "https://github.com/massimomauro/FASSEG-repository/archive/refs/heads/master.zip",
    "https://github.com/massimomauro/FASSEG-repository/archive/refs/heads/main.zip",
)
FASSEG_VERSIONS = ("V1", "V2", "V3")


def extract_fasseg_archive(archive, out_dir) -> Path:
    """Unpack a FASSEG repository zip so that ``out_dir`` holds ``V1/``, ``V2/`` and ``V3/``.

    GitHub archives put everything under one top folder; it is stripped.
    Written atomically: ``out_dir`` appears complete or not at all.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{archive}: not a zip archive ({exc})") from None
    with zf, tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
        zf.extractall(tmp)
        roots = [p for p in Path(tmp).rglob("V1") if p.is_dir()]
        if not roots:
            raise InputError(f"{archive}: no V1/ folder inside; is this the FASSEG repository?")
        top = roots[0].parent
        with atomic_output(out_dir) as staging:
            staging.mkdir()
            for version in FASSEG_VERSIONS:
                if (top / version).is_dir():
                    shutil.move(str(top / version), staging / version)
            for readme in top.glob("README*"):
                shutil.move(str(readme), staging / readme.name)
    return out_dir


def download_fasseg(out_dir, urls=FASSEG_ARCHIVES, timeout: float = 120.0) -> Path:
    """Fetch the repository archive (first URL that answers) and unpack it into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        with tempfile.NamedTemporaryFile(suffix=".zip", dir=out_dir.parent) as tmp:
            try:
                log.info("downloading %s", url)
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
                tmp.flush()
            except OSError as exc:
                errors.append(f"{url}: {exc}")
                continue
            return extract_fasseg_archive(tmp.name, out_dir)
    raise RuntimeError(
        "could not download FASSEG (" + "; ".join(errors) + "). Without internet access, point the "
        "pipeline at a local copy: snakemake --config fasseg_root=PATH"
    )
