"""Download the public FASSEG repository (GitHub archive) into a local folder."""

from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from faceseg.io import InputError, atomic_output

log = logging.getLogger(__name__)

#: The FASSEG repository's archive at a fixed commit, not a moving branch: a table made today names
#: the data that made it. The files are also checked pixel by pixel against the digests faceseg
#: ships (faceseg.data_digest), so a mirror or a copy is held to the same data.
FASSEG_COMMIT = "2115c970e4fec89da6ff09b67240ba19c77912e3"
FASSEG_ARCHIVES = (f"https://github.com/massimomauro/FASSEG-repository/archive/{FASSEG_COMMIT}.zip",)
FASSEG_VERSIONS = ("V1", "V2", "V3")

#: The most an archive may expand to, and the most entries it may hold: the FASSEG repository's
#: archive expands to a few hundred MB. Checked from the archive's directory before anything is
#: written; each entry is then written no larger than the directory says.
MAX_ARCHIVE_BYTES = 4 << 30
MAX_ARCHIVE_ENTRIES = 20_000


def check_archive(zf: zipfile.ZipFile, archive, max_bytes: int = MAX_ARCHIVE_BYTES,
                  max_entries: int = MAX_ARCHIVE_ENTRIES) -> list[zipfile.ZipInfo]:
    """The archive's entries, after refusing one that would leave the target folder or expand past the budget."""
    entries = zf.infolist()
    if len(entries) > max_entries:
        raise InputError(f"{archive}: {len(entries)} entries, more than the {max_entries} an archive may hold")
    total = 0
    for entry in entries:
        name = entry.filename
        parts = Path(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise InputError(f"{archive}: entry {name!r} would be written outside the target folder; nothing "
                             "extracted")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise InputError(f"{archive}: entry {name!r} is a symbolic link; nothing extracted")
        total += entry.file_size
        if total > max_bytes:
            raise InputError(f"{archive}: expands to more than {max_bytes / 2**30:.1f} GiB (a zip bomb, or not the "
                             "FASSEG repository); nothing extracted")
    return entries


def safe_extract(zf: zipfile.ZipFile, archive, target, max_bytes: int = MAX_ARCHIVE_BYTES) -> None:
    """Extract every entry under ``target``, checked first by :func:`check_archive`."""
    target = Path(target)
    for entry in check_archive(zf, archive, max_bytes):
        out = target / entry.filename
        if entry.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        # zipfile stops each entry at the size its directory declares, so the budget holds.
        with zf.open(entry) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


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
        safe_extract(zf, archive, tmp)
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
