"""Shard assignment: stable, independent of the other images, every image in exactly one shard."""

import pytest

from faceseg.shards import assign_shards, shard_index, shard_name


def test_every_image_is_in_one_shard_in_listing_order():
    ids = [f"img_{i:05d}" for i in range(1000)]
    shards = assign_shards(ids, 16)
    assert sorted(i for members in shards.values() for i in members) == sorted(ids)
    assert list(shards) == sorted(shards) and set(shards) <= {shard_name(k) for k in range(16)}
    for members in shards.values():
        assert members == sorted(members)  # the given order kept
    sizes = [len(m) for m in shards.values()]
    assert len(sizes) == 16 and min(sizes) > 1000 / 16 / 2, sizes  # spread, not piled into a few


def test_an_added_image_changes_only_its_own_shard():
    ids = [str(i) for i in range(1, 51)]
    before = assign_shards(ids, 5)
    after = assign_shards(ids + ["new_photo"], 5)
    changed = [s for s in after if after[s] != before.get(s)]
    assert changed == [shard_name(shard_index("new_photo", 5))]


def test_shard_of_an_id_is_fixed():
    # Pinned: a change here moves every image of every existing run to another shard.
    assert [shard_index(i, 2) for i in ("1", "10", "11", "12")] == [0, 0, 0, 1]
    assert shard_name(7) == "shard0007"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_shard_count_is_refused(bad):
    with pytest.raises(ValueError, match="the shard count must be a positive integer"):
        shard_index("a", bad)
