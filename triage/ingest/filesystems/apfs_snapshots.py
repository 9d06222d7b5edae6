"""Count the snapshots of each APFS volume, read-only, from the container.

pyfsapfs (libfsapfs' Python binding) has no snapshot API, so snapshots are
not walked; this module only counts them so a scan can record that they
were not read. Layouts are those of Apple's "Apple File System Reference":

container superblock (``NXSB``; the newest valid one in the checkpoint
descriptor area when that area is contiguous, else block 0) ->
``nx_omap_oid`` (physical) -> ``omap_phys_t`` -> ``om_tree_oid`` (physical
B-tree root, fixed-size keys ``(oid, xid)`` and values
``(flags, size, paddr)``) -> each ``nx_fs_oid[i]`` (virtual) at the newest
xid no later than the container's -> the volume superblock (``APSB``) ->
``apfs_num_snapshots``.

Every object read has its Fletcher-64 checksum verified; a mismatch, a bad
magic or type, or a B-tree over the bounds is "cannot tell" (``None``),
never a guess.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

#: ``read(offset, size)``: container bytes from the container's start.
Reader = Callable[[int, int], bytes]

_NX_MAGIC, _APFS_MAGIC = b"NXSB", b"APSB"
_TYPE_MASK = 0x0000FFFF
_NX_SUPERBLOCK, _BTREE, _BTREE_NODE, _OMAP, _FS = 0x1, 0x2, 0x3, 0xB, 0xD
_BTNODE_ROOT, _BTNODE_LEAF, _BTNODE_FIXED = 0x1, 0x2, 0x4
_OMAP_VAL_DELETED = 0x1
_BTREE_INFO_SIZE = 40  # btree_info_t at the end of a root node
_NODE_HEADER = 56  # obj_phys_t + btree_node_phys_t fields before btn_data
_MAX_DEPTH = 8
_MAX_XP_BLOCKS = 1024
_MIN_BLOCK, _MAX_BLOCK = 4096, 65536
_NX_FS_OID, _NX_MAX_FS = 184, 100
_NUM_SNAPSHOTS, _VOLNAME = 216, 704


class Unreadable(Exception):
    """An object that cannot be trusted (checksum, magic, type, bounds)."""


@dataclass(frozen=True)
class VolumeSnapshots:
    """One volume of the container: its slot in ``nx_fs_oid``, its name, and
    its snapshot count (``None``: it could not be counted, see ``problem``)."""

    slot: int
    name: str
    count: int | None
    problem: str = ""


def fletcher64(block: bytes) -> int:
    """The APFS object checksum of ``block`` (bytes 8.. as 32-bit words)."""
    words = struct.unpack_from(f"<{(len(block) - 8) // 4}I", block, 8)
    mod = 0xFFFFFFFF
    low = high = 0
    for word in words:
        low += word
        high += low
        if high > 1 << 62:  # keep Python ints small; same result mod 2**32-1
            low, high = low % mod, high % mod
    low, high = low % mod, high % mod
    check_low = mod - ((low + high) % mod)
    check_high = mod - ((low + check_low) % mod)
    return (check_high << 32) | check_low


def _object(block: bytes, kind: int, what: str) -> bytes:
    """``block`` if its checksum holds and it is of type ``kind``."""
    if len(block) < _MIN_BLOCK:
        raise Unreadable(f"{what}: short read")
    if struct.unpack_from("<Q", block, 0)[0] != fletcher64(block):
        raise Unreadable(f"{what}: checksum mismatch")
    if struct.unpack_from("<I", block, 24)[0] & _TYPE_MASK != kind:
        raise Unreadable(f"{what}: not the expected object type")
    return block


class _Container:
    def __init__(self, read: Reader) -> None:
        self._read = read
        head = read(0, _MIN_BLOCK)
        if head[32:36] != _NX_MAGIC:
            raise Unreadable("container superblock: no NXSB magic")
        self.block_size = struct.unpack_from("<I", head, 36)[0]
        if not _MIN_BLOCK <= self.block_size <= _MAX_BLOCK:
            raise Unreadable(f"container block size {self.block_size}")
        self.block_count = struct.unpack_from("<Q", head, 40)[0]
        self.superblock = self._latest(
            _object(self.block(0), _NX_SUPERBLOCK, "container superblock")
        )
        self.xid = struct.unpack_from("<Q", self.superblock, 16)[0]

    def block(self, number: int) -> bytes:
        if not 0 <= number < self.block_count:
            raise Unreadable(f"block {number} is outside the container")
        return self._read(number * self.block_size, self.block_size)

    def _latest(self, first: bytes) -> bytes:
        """The newest valid superblock of the checkpoint descriptor area
        (block 0's copy when the area is not one contiguous run)."""
        blocks, base = struct.unpack_from("<IxxxxQ", first, 104)
        if blocks & 0x80000000 or not 0 < blocks <= _MAX_XP_BLOCKS:
            return first
        best, best_xid = first, struct.unpack_from("<Q", first, 16)[0]
        for number in range(base, base + blocks):
            try:
                block = self.block(number)
                if block[32:36] != _NX_MAGIC:
                    continue
                candidate = _object(block, _NX_SUPERBLOCK, "checkpoint")
            except Unreadable:
                continue
            xid = struct.unpack_from("<Q", candidate, 16)[0]
            if xid > best_xid:
                best, best_xid = candidate, xid
        return best

    def omap_root(self) -> int:
        omap_oid = struct.unpack_from("<Q", self.superblock, 160)[0]
        omap = _object(self.block(omap_oid), _OMAP, "container object map")
        return int(struct.unpack_from("<Q", omap, 48)[0])

    def lookup(self, root: int, oid: int) -> int:
        """The physical block of virtual object ``oid`` (newest xid no later
        than the container's), through the object map B-tree at ``root``."""
        target = (oid, self.xid)
        number = root
        for _depth in range(_MAX_DEPTH):
            kind = _BTREE if number == root else _BTREE_NODE
            node = _object(self.block(number), kind, "object map node")
            entries, leaf = self._entries(node, root=number == root)
            chosen = [e for e in entries if (e[0], e[1]) <= target]
            if not chosen:
                raise Unreadable(f"object {oid} is not in the object map")
            key_oid, _xid, flags, paddr = max(chosen, key=lambda e: (e[0], e[1]))
            if leaf:
                if key_oid != oid or flags & _OMAP_VAL_DELETED:
                    raise Unreadable(f"object {oid} is not in the object map")
                return paddr
            number = paddr
        raise Unreadable("object map B-tree deeper than expected")

    def _entries(
        self, node: bytes, *, root: bool
    ) -> tuple[list[tuple[int, int, int, int]], bool]:
        """A node's (oid, xid, flags, paddr) entries, bounds checked; an
        index node's value is its child's block (flags 0)."""
        flags, level, nkeys = struct.unpack_from("<HHI", node, 32)
        toc_off, toc_len = struct.unpack_from("<HH", node, 40)
        leaf = bool(flags & _BTNODE_LEAF)
        if not flags & _BTNODE_FIXED or leaf != (level == 0):
            raise Unreadable("object map node is not a fixed-size B-tree node")
        if root != bool(flags & _BTNODE_ROOT):
            raise Unreadable("object map node has the wrong root flag")
        key_start = _NODE_HEADER + toc_off + toc_len
        value_end = len(node) - (_BTREE_INFO_SIZE if root else 0)
        value_size = 16 if leaf else 8
        if nkeys * 4 > toc_len or key_start > value_end:
            raise Unreadable("object map node table out of bounds")
        found: list[tuple[int, int, int, int]] = []
        for index in range(nkeys):
            k, v = struct.unpack_from("<HH", node, _NODE_HEADER + toc_off + 4 * index)
            key_at, value_at = key_start + k, value_end - v
            if key_at + 16 > value_end or not key_start <= value_at <= (
                value_end - value_size
            ):
                raise Unreadable("object map entry out of bounds")
            oid, xid = struct.unpack_from("<QQ", node, key_at)
            if leaf:
                vflags, _size, paddr = struct.unpack_from("<IIQ", node, value_at)
                found.append((oid, xid, vflags, paddr))
            else:
                found.append((oid, xid, 0, struct.unpack_from("<Q", node, value_at)[0]))
        return found, leaf


def _volume(container: _Container, root: int, slot: int, oid: int) -> VolumeSnapshots:
    name = f"volume {slot}"
    try:
        block = _object(
            container.block(container.lookup(root, oid)), _FS, "volume superblock"
        )
        if block[32:36] != _APFS_MAGIC:
            raise Unreadable("volume superblock: no APSB magic")
        raw = block[_VOLNAME : _VOLNAME + 256].split(b"\0", 1)[0]
        name = raw.decode("utf-8", "replace") or name
        count = struct.unpack_from("<Q", block, _NUM_SNAPSHOTS)[0]
    except Unreadable as exc:
        return VolumeSnapshots(slot, name, None, str(exc))
    return VolumeSnapshots(slot, name, int(count))


def count_snapshots(read: Reader) -> list[VolumeSnapshots]:
    """Each volume's snapshot count, in ``nx_fs_oid`` order (empty slots left
    out; ``slot`` is the index libfsapfs gives the volume).

    Raises:
        Unreadable: the container superblock or its object map cannot be
            trusted, so no volume's count can be told.
    """
    container = _Container(read)
    root = container.omap_root()
    oids = struct.unpack_from(f"<{_NX_MAX_FS}Q", container.superblock, _NX_FS_OID)
    return [
        _volume(container, root, slot, oid) for slot, oid in enumerate(oids) if oid != 0
    ]
