"""One per-item hashing policy: what is hashed, with which signals, under
which floors.

The scan (``triage.scan.tasks``), :func:`hash_media` (below)
and ``triage hashset build`` all follow a :class:`HashPolicy`:

- every item gets the digest of every exact signal (or of those named),
  streamed once over its bytes, so an exact copy matches whatever it is;
- a still picture (``image/*``) is read whole and decoded when decoding is on
  and it is no larger than ``max_decode_bytes``; it gets the perceptual
  signals named (PDQ with its dihedral variants and pHash by default, and
  "trimmed" values of the picture inside a uniform border);
- a picture too large, too small, undecodable or of an unsupported type keeps
  its digests, and the reason comes back for the caller's ``Skipped`` record;
- values below a signal's quality floor are kept for the scan (the matcher
  never matches them) but never written into a hash set
  (:meth:`HashPolicy.reference_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import IO, TypeVar

from triage.errors import MediaError
from triage.hashmatch.decode import DecodeError
from triage.hashmatch.hashing import (
    DEFAULT_PERCEPTUAL,
    TRIMMED,
    exact_digests,
    perceptual_hashes,
)
from triage.hashmatch.signals import ORIGINAL, get_signal
from triage.hashmatch.video import MAX_FRAMES_HASHED, VideoHashes, hash_video
from triage.records import MediaHash, PerceptualHash

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PictureHashes:
    """The perceptual values of one decoded picture."""

    hashes: tuple[PerceptualHash, ...]
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Unhashed:
    """Why a picture has no perceptual values (its digests still stand)."""

    reason: str
    decoded: bool = False  # decoded, but nothing to hash (e.g. 3x3 pixels)
    width: int | None = None
    height: int | None = None


#: What decoding one picture gives; the scan caches it per content (MD5).
PictureOutcome = PictureHashes | Unhashed
#: What decoding one video gives.
VideoOutcome = VideoHashes | Unhashed


def _or_why(compute: Callable[..., T], **options: object) -> T | Unhashed:
    """``compute(**options)``, or why the item could not be decoded."""
    try:
        return compute(**options)
    except MediaError as exc:  # DecodeError and the rest: the reason alone
        return Unhashed(exc.reason)


def _mime(media_type: str | None) -> str:
    return (media_type or "").split(";", 1)[0].strip().lower()


def is_picture(media_type: str | None) -> bool:
    """Whether ``media_type`` names a still picture (``image/*``)."""
    return _mime(media_type).startswith("image/")


def is_video(media_type: str | None) -> bool:
    """Whether ``media_type`` names a video (``video/*``)."""
    return _mime(media_type).startswith("video/")


@dataclass(frozen=True, slots=True)
class HashPolicy:
    """What is hashed, with which signals, under which floors (see the module
    docstring). ``exact`` None means every registered exact signal;
    ``max_decode_bytes`` None means no size limit on decoding."""

    exact: tuple[str, ...] | None = None
    perceptual: tuple[str, ...] = DEFAULT_PERCEPTUAL
    decode: bool = True
    max_decode_bytes: int | None = None
    dihedral: bool = True
    trim: bool = True
    keyframes: bool = False  # videos: key frames only (the triage pass)
    max_video_frames: int = MAX_FRAMES_HASHED

    def decodes_video(self, media_type: str | None) -> bool:
        """Whether this item is a video decoded for vPDQ frame hashes (from
        its stream: videos are never read whole for this)."""
        return self.decode and is_video(media_type)

    def video(self, fileobj: IO[bytes], *, where: str) -> VideoOutcome:
        """The vPDQ frames of the video read from ``fileobj``, or why there
        are none; ``where`` names the item in reasons."""
        frames = partial(hash_video, fileobj, where=where, keyframes=self.keyframes)
        return _or_why(frames, max_frames=self.max_video_frames, dihedral=self.dihedral)

    def decodes(self, media_type: str | None, size: int) -> bool:
        """Whether this item is read whole and decoded for perceptual values."""
        return (
            self.decode
            and is_picture(media_type)
            and (self.max_decode_bytes is None or size <= self.max_decode_bytes)
        )

    def size_note(self, media_type: str | None, size: int) -> str | None:
        """Why a picture is not decoded because of its size (None otherwise)."""
        if not self.decode or not is_picture(media_type):
            return None
        if self.max_decode_bytes is None or size <= self.max_decode_bytes:
            return None
        return (
            f"image of {size} bytes is larger than the decode limit "
            f"({self.max_decode_bytes}); exact digests only"
        )

    def digests(self, chunks: Iterable[bytes]) -> tuple[tuple[str, str], ...]:
        """The item's exact digests, streamed once over ``chunks``."""
        return exact_digests(chunks, self.exact)

    def picture(
        self, data: bytes, media_type: str | None, *, where: str
    ) -> PictureOutcome:
        """The perceptual values of the picture in ``data``, or why there are
        none; ``where`` names the item in reasons."""
        values = partial(perceptual_hashes, data, media_type, where=where)
        result = _or_why(
            values, algorithms=self.perceptual, dihedral=self.dihedral, trim=self.trim
        )
        if isinstance(result, Unhashed):
            return result
        if not result.hashes:
            reason = "; ".join(result.notes) or "no perceptual hash computed"
            return Unhashed(reason, True, result.width, result.height)
        return PictureHashes(result.hashes, result.width, result.height)

    def hash_item(
        self, address: str, data: bytes, media_type: str | None, *, where: str
    ) -> tuple[MediaHash, Unhashed | None]:
        """All hashes of one item held in memory, and why it has no perceptual
        values when it should have some (None otherwise)."""
        plain = MediaHash(address, digests=self.digests((data,)))
        if not self.decodes(media_type, len(data)):
            return plain, None
        return with_picture(plain, self.picture(data, media_type, where=where))

    def reference_values(
        self, media: MediaHash
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """What a hash set keeps of a reference item: its digests and its
        original and trimmed perceptual values, except those below their
        signal's quality floor (listed as notes)."""
        pairs = list(media.digests)
        notes = []
        for h in media.perceptual:
            if h.variant not in (ORIGINAL, TRIMMED):
                continue
            signal = get_signal(h.algorithm)
            if not signal.usable(h.quality):
                notes.append(
                    f"{signal.name.upper()} ({h.variant}) quality {h.quality} < "
                    f"{signal.quality_floor} not stored"
                )
                continue
            pairs.append((h.algorithm, h.value))
        return pairs, notes


def with_video(
    plain: MediaHash, outcome: VideoOutcome
) -> tuple[MediaHash, Unhashed | None]:
    """``plain`` (digests only) with a video's sampled frames, and the reason
    when there are none."""
    if isinstance(outcome, Unhashed):
        return plain, outcome
    hashes = replace(
        plain, frames=outcome.frames, width=outcome.width, height=outcome.height
    )
    return hashes, None


def with_picture(
    plain: MediaHash, outcome: PictureOutcome
) -> tuple[MediaHash, Unhashed | None]:
    """``plain`` (digests only) with what decoding gave, and the reason when
    it gave no perceptual values."""
    if isinstance(outcome, Unhashed):
        return replace(plain, width=outcome.width, height=outcome.height), outcome
    hashes = replace(
        plain, perceptual=outcome.hashes, width=outcome.width, height=outcome.height
    )
    return hashes, None


class UndecodableMediaError(DecodeError):
    """A picture could not be perceptually hashed; ``media_hash`` still holds
    its exact digests so exact matching goes on."""

    def __init__(self, where: str, reason: str, media_hash: MediaHash) -> None:
        super().__init__(where, reason)
        self.media_hash = media_hash


def hash_media(
    address: str,
    data: bytes,
    media_type: str | None,
    *,
    where: str | None = None,
    algorithms: Sequence[str] = DEFAULT_PERCEPTUAL,
    dihedral: bool = True,
    trim: bool = True,
) -> MediaHash:
    """All hashes of one media item held in memory, by :class:`HashPolicy`.

    Every item gets every exact signal's digest; pictures (``image/*``) get
    perceptual hashes too. ``where`` (default: ``address``) names the item in
    errors.

    Raises:
        UndecodableMediaError: a picture that cannot be decoded or is of an
            unsupported image type; ``.media_hash`` holds the digests and
            ``.reason`` the cause, for the caller's ``Skipped`` record.
    """
    policy = HashPolicy(perceptual=tuple(algorithms), dihedral=dihedral, trim=trim)
    label = where or address
    media, unhashed = policy.hash_item(address, data, media_type, where=label)
    if unhashed is not None and not unhashed.decoded:
        raise UndecodableMediaError(label, unhashed.reason, media)
    return media
