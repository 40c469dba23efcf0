"""Data identified and pinned: pixel digests per split, checked against the FASSEG files faceseg knows."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from test_download import _github_archive

from faceseg.data_digest import load_manifest, shard_digests, split_record
from faceseg.datasets import list_images
from faceseg.download import extract_fasseg_archive
from faceseg.io import InputError


def _items(root, version="V1", split="test"):
    return [{"image_id": r.image_id, "image": str(r.image_path), "label": str(r.label_path)}
            for r in list_images("fasseg", root, split, version)]


def test_the_bmp_archive_and_the_png_copy_give_the_same_digest(tmp_path, fasseg_root):
    archive = _github_archive(tmp_path / "repo.zip", fasseg_root, per_folder=3)
    bmp_root = extract_fasseg_archive(archive, tmp_path / "bmp")
    assert {p.suffix for p in (bmp_root / "V1" / "Test_RGB").iterdir()} == {".bmp"}
    records = {}
    for name, root in (("bmp", bmp_root), ("png", fasseg_root)):
        items = [i for i in _items(root) if i["image_id"] in {"1", "10", "11"}]
        assert len(items) == 3
        shard_digests(items, root, "fasseg", tmp_path / name / "test" / "shard0000.json")
        records[name] = split_record([tmp_path / name / "test" / "shard0000.json"])
    assert records["bmp"] == records["png"]
    assert records["png"]["n_files"] == 6 and records["png"]["changed_files_accepted"] == []
    # Each file's digest is the one the package ships for the published file.
    manifest = load_manifest()
    shard = json.loads((tmp_path / "bmp" / "test" / "shard0000.json").read_text())
    assert shard["files"] == {k: manifest[k] for k in shard["files"]}


def test_one_changed_pixel_is_refused_naming_the_file_unless_accepted(tmp_path, fasseg_root):
    copy = tmp_path / "fasseg"
    shutil.copytree(fasseg_root / "V1", copy / "V1")
    label = copy / "V1" / "Test_Labels" / "10.png"
    pixels = np.asarray(Image.open(label).convert("RGB")).copy()
    pixels[5, 5] = (0, 0, 255) if tuple(pixels[5, 5]) != (0, 0, 255) else (255, 0, 0)
    Image.fromarray(pixels).save(label)
    items = _items(copy)[:4]
    out = tmp_path / "data" / "test" / "shard0000.json"
    with pytest.raises(InputError, match=rf"^{label}: its pixels differ from the FASSEG file of that name .* "
                                         r"accept_changed_data: true"):
        shard_digests(items, copy, "fasseg", out)
    assert not out.exists()
    record = shard_digests(items, copy, "fasseg", out, accept_changed=True)
    assert record["changed"] == [str(label)]
    data = split_record([out])
    assert data["changed_files_accepted"] == [str(label)]
    original = tmp_path / "orig" / "test" / "shard0000.json"
    shard_digests(_items(fasseg_root)[:4], fasseg_root, "fasseg", original)
    assert split_record([original])["pixel_digest"] != data["pixel_digest"]
    # Files of other datasets are digested, not checked.
    assert shard_digests(items, copy, "lapa", tmp_path / "lapa.json")["changed"] == []
