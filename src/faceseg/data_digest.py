"""Which data made a result: digests of the decoded pixels of every image and label file, per split.

A digest is SHA-256 of a file's decoded pixels (shape, type and values), so
FASSEG's BMP originals and a lossless PNG copy of them agree, while one changed
pixel does not. The package ships the digests of the FASSEG files it knows
(:data:`MANIFEST`: V1, V2 and the V3 training part); a FASSEG file that differs
from its entry is refused naming it, unless the run accepts changed data
(config ``accept_changed_data``), which every result then records.

    python -m faceseg.data_digest FASSEG_ROOT > src/faceseg/fasseg_manifest.json   # remake the manifest
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from faceseg.io import InputError, atomic_output, read_image, read_label_image

MANIFEST = Path(__file__).with_name("fasseg_manifest.json")


def pixel_digest(pixels: np.ndarray) -> str:
    """SHA-256 of an array's shape, type and values."""
    pixels = np.ascontiguousarray(pixels)
    h = hashlib.sha256(f"{pixels.shape}|{pixels.dtype.str}|".encode())
    h.update(pixels.tobytes())
    return h.hexdigest()


def manifest_key(path, root) -> str:
    """A file's key: its path under the dataset root without the extension (``V1/Train_RGB/1``)."""
    return Path(path).relative_to(root).with_suffix("").as_posix()


def file_digest(path, kind: str) -> str:
    """The pixel digest of an image (``kind="image"``: as read for features) or a label file (as stored)."""
    return pixel_digest(read_image(path) if kind == "image" else read_label_image(path, palette_as="rgb"))


def load_manifest() -> dict[str, str]:
    return json.loads(MANIFEST.read_text())["files"]


def shard_digests(images: list[dict], root, dataset: str, out_json, accept_changed: bool = False) -> dict:
    """Digest a shard's image and label files into ``out_json``; FASSEG files are checked against the manifest.

    ``images``: ``{"image_id", "image", "label"}`` each (``label`` may be None). A
    file that cannot be read is recorded as such (its shard's jobs skip it and
    say why). A FASSEG file whose pixels differ from the manifest raises
    :class:`InputError` naming it, unless ``accept_changed``.
    """
    manifest = load_manifest() if dataset == "fasseg" else {}
    files, changed, unreadable = {}, [], []
    for item in images:
        for kind, path in (("image", item["image"]), ("label", item.get("label"))):
            if path is None:
                continue
            key = manifest_key(path, root)
            try:
                files[key] = file_digest(path, kind)
            except InputError as exc:
                unreadable.append(str(exc))
                continue
            if key in manifest and manifest[key] != files[key]:
                changed.append(str(path))
    if changed and not accept_changed:
        raise InputError(
            f"{changed[0]}: its pixels differ from the FASSEG file of that name that faceseg knows "
            f"({len(changed)} file(s) of this shard differ: {', '.join(changed[:5])}). Results would not be "
            "comparable with those of the published data; to run on it anyway, set accept_changed_data: true "
            "(every result then records the changed files)"
        )
    record = {"dataset": dataset, "files": files, "changed": changed, "accepted_changes": bool(changed),
              "unreadable": unreadable, "not_in_manifest": sorted(k for k in files if manifest and k not in manifest)}
    with atomic_output(out_json) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def split_record(shard_files) -> dict | None:
    """What a split's data was, from its shards' digest files (``results/data/D/<split>/<shard>.json``).

    One digest of every file's, the file count, and the changed files a run
    accepted; None without files (a caller outside the workflow).
    """
    if not shard_files:
        return None
    split = Path(shard_files[0]).parent.name
    files, changed, unreadable = {}, [], []
    for path in shard_files:
        shard = json.loads(Path(path).read_text())
        files.update(shard["files"])
        changed += shard["changed"]
        unreadable += shard["unreadable"]
    h = hashlib.sha256()
    for key in sorted(files):
        h.update(f"{key} {files[key]}\n".encode())
    return {"split": split, "pixel_digest": h.hexdigest(), "n_files": len(files),
            "changed_files_accepted": sorted(changed), "unreadable": sorted(unreadable)}


def describe(data: dict | None) -> str:
    """One line for people: ``test split: 100 files, pixels 0123abcd4567``, with any accepted changes."""
    if not data:
        return "not recorded"
    line = f"{data['split']} split: {data['n_files']} files, pixels {data['pixel_digest'][:16]}"
    if data["changed_files_accepted"]:
        line += f"; {len(data['changed_files_accepted'])} file(s) differ from the published data (accepted)"
    return line


def build_manifest(root) -> dict:
    """The digest of every FASSEG image and label under ``root`` (V1, V2, V3: whatever is there)."""
    root = Path(root)
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".bmp", ".jpg")):
        rel = path.relative_to(root).parts
        if rel[0] not in ("V1", "V2", "V3"):
            continue
        files[manifest_key(path, root)] = file_digest(path, "label" if "label" in rel[1].lower() else "image")
    return {"about": "SHA-256 of the decoded pixels of FASSEG's files (faceseg.data_digest.pixel_digest): images as "
                     "read_image returns them, labels as read_label_image(palette_as='rgb')", "files": files}


if __name__ == "__main__":
    print(json.dumps(build_manifest(sys.argv[1]), indent=0, sort_keys=True))
