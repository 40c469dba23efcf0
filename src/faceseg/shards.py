"""Shards: the groups of images that one per-image job (landmarks, features, segmentation) handles.

An image's shard is a hash of its id modulo the split's shard count, so it
depends on nothing else: adding, removing or changing an image changes only its
own shard (and the jobs that read it), and no output depends on ``--cores``.
"""

from __future__ import annotations

import hashlib


def shard_index(image_id: str, n_shards: int) -> int:
    """The shard (0 .. n_shards - 1) of ``image_id``: a BLAKE2 hash of the id, the same on every machine.

    (Not CRC-32: it is linear, and its low bits put ids such as "1" ... "13" all in one of two shards.)
    """
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
        raise ValueError(f"the shard count must be a positive integer, got {n_shards!r}")
    digest = hashlib.blake2b(image_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def shard_name(index: int) -> str:
    return f"shard{index:04d}"


def assign_shards(image_ids, n_shards: int) -> dict[str, list[str]]:
    """``{shard name: [image ids in the given order]}``, for the non-empty shards, in shard order."""
    out: dict[int, list[str]] = {}
    for image_id in image_ids:
        out.setdefault(shard_index(image_id, n_shards), []).append(image_id)
    return {shard_name(k): out[k] for k in sorted(out)}
