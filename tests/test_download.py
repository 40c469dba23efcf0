"""The FASSEG download's unpacking, on a local archive shaped like GitHub's (no network here)."""

import zipfile

import pytest

from faceseg.datasets import list_images
from faceseg.download import extract_fasseg_archive
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
