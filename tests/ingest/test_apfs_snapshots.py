"""The APFS snapshot counter on containers built here, byte by byte, from
Apple's "Apple File System Reference" layouts: a two-level object map,
versions chosen by the container's transaction id, the newest checkpoint
superblock taken, and every damaged or out-of-bounds object refused."""

from __future__ import annotations

import struct

import pytest

from triage.ingest.filesystems.apfs_snapshots import (
    Reader,
    Unreadable,
    VolumeSnapshots,
    count_snapshots,
    fletcher64,
)

BLOCK = 4096
NX, BTREE, NODE, OMAP, FS = 0x1, 0x2, 0x3, 0xB, 0xD
ROOT, LEAF, FIXED = 0x1, 0x2, 0x4


def _seal(block: bytearray, oid: int, xid: int, kind: int) -> bytes:
    struct.pack_into("<QQI", block, 8, oid, xid, kind)
    struct.pack_into("<Q", block, 0, fletcher64(bytes(block)))
    return bytes(block)


def _superblock(xid: int, fs_oids: list[int], xp: tuple[int, int] = (0, 0)) -> bytes:
    block = bytearray(BLOCK)
    block[32:36] = b"NXSB"
    struct.pack_into("<IQ", block, 36, BLOCK, 16)
    struct.pack_into("<IxxxxQ", block, 104, *xp)
    struct.pack_into("<Q", block, 160, 1)  # nx_omap_oid
    struct.pack_into(f"<{len(fs_oids)}Q", block, 184, *fs_oids)
    return _seal(block, 1, xid, NX)


def _node(entries: list[tuple[int, int, int]], *, root: bool, leaf: bool) -> bytes:
    """A fixed-size omap node; entries (oid, xid, paddr)."""
    block = bytearray(BLOCK)
    flags = FIXED | (ROOT if root else 0) | (LEAF if leaf else 0)
    struct.pack_into("<HHI", block, 32, flags, 0 if leaf else 1, len(entries))
    struct.pack_into("<HH", block, 40, 0, 4 * len(entries))
    key_start = 56 + 4 * len(entries)
    value_end = BLOCK - (40 if root else 0)
    size = 16 if leaf else 8
    for i, (oid, xid, paddr) in enumerate(entries):
        struct.pack_into("<HH", block, 56 + 4 * i, 16 * i, size * (i + 1))
        struct.pack_into("<QQ", block, key_start + 16 * i, oid, xid)
        value = (
            struct.pack("<IIQ", 0, BLOCK, paddr) if leaf else struct.pack("<Q", paddr)
        )
        block[value_end - size * (i + 1) : value_end - size * i] = value
    return _seal(block, 0, 1, BTREE if root else NODE)


def _volume(name: str, snapshots: int) -> bytes:
    block = bytearray(BLOCK)
    block[32:36] = b"APSB"
    struct.pack_into("<Q", block, 216, snapshots)
    block[704 : 704 + len(name)] = name.encode()
    return _seal(block, 0, 1, FS)


def _container() -> dict[int, bytes]:
    """Block 0 says xid 4; the checkpoint at block 9 says xid 5 (block 10 is
    a newer one with a broken checksum, to be ignored)."""
    omap = bytearray(BLOCK)
    struct.pack_into("<Q", omap, 48, 2)  # om_tree_oid
    stale = bytearray(_superblock(99, [1026, 1027]))
    stale[300] ^= 1
    return {
        0: _superblock(4, [1026, 1027], xp=(2, 9)),
        1: _seal(omap, 1, 1, OMAP),
        2: _node([(1026, 0, 3), (1027, 0, 4)], root=True, leaf=False),
        3: _node([(1026, 1, 5), (1026, 5, 6)], root=False, leaf=True),
        4: _node([(1027, 2, 7), (1027, 9, 8)], root=False, leaf=True),
        5: _volume("old", 9),
        6: _volume("Data", 3),
        7: _volume("Preboot", 1),
        8: _volume("future", 7),
        9: _superblock(5, [1026, 1027]),
        10: bytes(stale),
    }


def _reader(blocks: dict[int, bytes]) -> Reader:
    def read(offset: int, size: int) -> bytes:
        return blocks.get(offset // BLOCK, bytes(BLOCK))[:size]

    return read


def test_two_level_map_newest_checkpoint_and_version() -> None:
    assert count_snapshots(_reader(_container())) == [
        VolumeSnapshots(0, "Data", 3),  # xid 5 from the checkpoint, not 1
        VolumeSnapshots(1, "Preboot", 1),  # xid 9 is later than the container
    ]


def test_root_that_is_a_leaf() -> None:
    blocks = _container()
    blocks[2] = _node([(1026, 5, 6), (1027, 2, 7)], root=True, leaf=True)
    counts = [v.count for v in count_snapshots(_reader(blocks))]
    assert counts == [3, 1]


def test_damage_is_cannot_tell() -> None:
    blocks = _container()
    broken = bytearray(blocks[4])
    broken[200] ^= 1
    blocks[4] = bytes(broken)
    data, preboot = count_snapshots(_reader(blocks))
    assert data.count == 3
    assert preboot.count is None and "checksum mismatch" in preboot.problem
    # A node pointing at itself is bounded, not followed for ever.
    blocks = _container()
    blocks[3] = _node([(1026, 0, 3)], root=False, leaf=False)
    data, _ = count_snapshots(_reader(blocks))
    assert data.count is None and "deeper than expected" in data.problem
    # A table of contents claiming more keys than it holds is refused.
    node = bytearray(_container()[3])
    struct.pack_into("<I", node, 36, 5000)
    blocks = _container()
    blocks[3] = _seal(node, 0, 1, NODE)
    assert count_snapshots(_reader(blocks))[0].problem.endswith("out of bounds")
    # A missing object and a damaged container superblock.
    blocks = _container()
    blocks[0] = blocks[9] = _superblock(5, [1026, 1030])
    assert "not in the object map" in count_snapshots(_reader(blocks))[1].problem
    blocks[0] = blocks[0][:100] + b"\xff" + blocks[0][101:]
    with pytest.raises(Unreadable, match="container superblock: checksum"):
        count_snapshots(_reader(blocks))
