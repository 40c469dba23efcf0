"""The FASSEG download: GitHub-shaped archives, unpacked directly and fetched by the workflow from a file:// URL."""

import io
import zipfile

import pytest
from PIL import Image

from faceseg.config import DOWNLOADED_FASSEG
from faceseg.datasets import FASSEG, list_images, load_example
from faceseg.download import download_fasseg, extract_fasseg_archive
from faceseg.io import InputError


def test_archive_is_unpacked_to_versions(tmp_path, fasseg_root):
    archive = tmp_path / "master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split in ("Train", "Test"):
            for sub in ("RGB", "Labels"):
                for path in sorted((fasseg_root / "V1" / f"{split}_{sub}").glob("*.png"))[:2]:
                    zf.write(path, f"FASSEG-repository-master/V1/{split}_{sub}/{path.name}")
        zf.writestr("FASSEG-repository-master/README.md", "FASSEG")
    out = extract_fasseg_archive(archive, tmp_path / "resources" / "fasseg")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "V1"]
    assert len(list_images("fasseg", out, "train", "V1")) == 2


def test_wrong_archive_leaves_nothing(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("something/else.txt", "x")
    with pytest.raises(InputError, match="no V1/ folder inside"):
        extract_fasseg_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(InputError, match="junk.zip: not a zip archive"):
        extract_fasseg_archive(tmp_path / "junk.zip", tmp_path / "out")


def _bmp(png):
    """The original's encoding: FASSEG's GitHub files are 24-bit BMPs (the shared copy re-encoded them as PNG)."""
    buffer = io.BytesIO()
    Image.open(png).convert("RGB").save(buffer, format="BMP")
    return buffer.getvalue()


def _github_archive(path, fasseg_root, per_folder=2):
    """A zip laid out as GitHub serves the repository: one top folder, BMP files, V3's pose folders and ``labels``."""
    top = "FASSEG-repository-master"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/README.md", "FASSEG")
        for version in ("V1", "V2"):
            for folder in ("Train_RGB", "Train_Labels", "Test_RGB", "Test_Labels"):
                for png in sorted((fasseg_root / version / folder).glob("*.png"))[:per_folder]:
                    zf.writestr(f"{top}/{version}/{folder}/{png.stem}.bmp", _bmp(png))
        for folder in ("Train_RGB", "Train_labels"):
            for pose in ("+15", "-15"):
                for png in sorted((fasseg_root / "V3" / folder / pose).glob("*.png"))[:per_folder]:
                    zf.writestr(f"{top}/V3/{folder}/{pose}/{png.stem}.bmp", _bmp(png))
    return path


@pytest.mark.e2e
def test_the_workflow_downloads_and_reads_fasseg_as_github_serves_it(tmp_path, fasseg_root):
    """The download_fasseg checkpoint, run by Snakemake on a file:// URL, and the workflow planned on what it wrote."""
    from workflow_run import planned_jobs, snakemake, write_config

    archive = _github_archive(tmp_path / "master.zip", fasseg_root)
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, fasseg_root=None, fasseg_url=archive.as_uri())
    snakemake(work, DOWNLOADED_FASSEG)
    out = work / DOWNLOADED_FASSEG
    assert {"README.md", "V1", "V2", "V3"} <= {p.name for p in out.iterdir()}
    downloaded = list_images("fasseg", out, "train", "V1")
    assert [r.image_path.suffix for r in downloaded] == [".bmp", ".bmp"]
    original = {r.image_id: r for r in list_images("fasseg", fasseg_root, "train", "V1")}
    for record in downloaded:  # the same pixels and classes as the PNG copy
        image, labels = load_example(FASSEG, record)
        ref_image, ref_labels = load_example(FASSEG, original[record.image_id])
        assert (image == ref_image).all() and (labels == ref_labels).all()
    v3 = list_images("fasseg", out, "train", "V3")
    assert len(v3) == 4 and all(r.label_path is not None and r.label_path.suffix == ".bmp" for r in v3)
    # The plan reads the downloaded folder: each of the tiny configuration's 4 runs scored, both splits found.
    jobs = planned_jobs(work)
    assert jobs["evaluate"] == 4 and jobs["detect_landmarks"] >= 2


def test_a_failed_download_says_how_to_use_a_local_copy(tmp_path):
    with pytest.raises(RuntimeError, match="fasseg_root=PATH") as err:
        download_fasseg(tmp_path / "fasseg", urls=[(tmp_path / "missing.zip").as_uri()])
    assert "missing.zip" in str(err.value)
    assert not (tmp_path / "fasseg").exists()
