"""Order devices for examination, with a plain-language reason for every rank.

Pure functions (no database, no Dask). The ordering rule (docs/queue.md):

Tiers, in this order:

1. ``known-material``: the device has at least one counted match (any
   probability). Within the tier, by ``priority = evidence x (1 + 2 x
   safeguarding)``, highest first: case risk to children can triple a device's
   priority, so a device with one match from a household with children ranks
   above the same evidence from a case with no access to children.
2. ``needs-attention``: no counted match, but the device cannot be called
   clean: the scan failed, a whole partition/filesystem could not be read, the
   scan stopped early, or many media items could not be read. These go straight
   after the devices with known material, above everything not yet seen, because
   only a person can clear them: sinking them to the bottom as "clean" is exactly
   the failure the inspections found.
3. ``not-scanned``: awaiting or mid-scan, nothing found yet.
4. ``nothing-found``: fully scanned, no counted match. Not proof of innocence:
   unknown (new) material is invisible to hash matching.

Tiers 2-4 order by safeguarding weight, then media count (more media, more to
review), then device id. Every tie ends on (case id, device id), so the order
never depends on input order.

Safeguarding weight ``= 0.6 x access + 0.4 x risk``, from the case:
access lives-with 1.0, works-with 0.9, regular-contact 0.8, unknown 0.6,
none 0.0 (unknown is NOT none: it is weighted as probable contact until an
investigator says otherwise); risk band very-high 1.0, high 0.75, medium 0.5,
low 0.25, not assessed 0.5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from triage.errors import UsageError
from triage.hashmatch.video_match import ITEM_SHARE_THRESHOLD
from triage.queue.score import (
    Calibration,
    DeviceFacts,
    DeviceMatch,
    DeviceScore,
    KnownItem,
    load_calibration,
    score_device,
)
from triage.records import Case

ACCESS_WEIGHT: dict[str, float] = {
    "lives-with": 1.0,
    "works-with": 0.9,
    "regular-contact": 0.8,
    "unknown": 0.6,
    "none": 0.0,
}
RISK_WEIGHT: dict[str | None, float] = {
    "very-high": 1.0,
    "high": 0.75,
    "medium": 0.5,
    "low": 0.25,
    None: 0.5,
}
RISK_BANDS: tuple[str, ...] = ("low", "medium", "high", "very-high")
W_ACCESS = 0.6
W_RISK = 0.4
SAFEGUARDING_GAIN = 2.0  # priority = evidence * (1 + GAIN * safeguarding)

TIERS: tuple[str, ...] = (
    "known-material",
    "needs-attention",
    "not-scanned",
    "nothing-found",
)
# A device with this share (and at least UNREADABLE_MIN) of its media items
# unreadable is not "nothing found": too much of it was not seen.
UNREADABLE_SHARE = 0.10
UNREADABLE_MIN = 5

_ACCESS_PHRASE = {
    "lives-with": "suspect lives with children",
    "works-with": "suspect works with children",
    "regular-contact": "suspect has regular contact with children",
    "none": "no known access to children",
    "unknown": "access to children UNKNOWN (establish)",
}


def safeguarding(case: Case) -> float:
    """The case's safeguarding weight in [0, 1].

    Raises:
        UsageError: an access or risk value outside the documented lists.
    """
    try:
        access = ACCESS_WEIGHT[case.access_to_children]
    except KeyError as exc:
        raise UsageError(
            f"case {case.case_id}: access_to_children {case.access_to_children!r} "
            f"is not one of {', '.join(ACCESS_WEIGHT)}"
        ) from exc
    try:
        risk = RISK_WEIGHT[case.risk_band]
    except KeyError as exc:
        raise UsageError(
            f"case {case.case_id}: risk_band {case.risk_band!r} is not one of "
            f"{', '.join(RISK_BANDS)}"
        ) from exc
    return W_ACCESS * access + W_RISK * risk


def safeguarding_phrase(case: Case) -> str:
    """What a person reads about the case's risk to children."""
    risk = (
        f"case risk {case.risk_band.replace('-', ' ')}"
        if case.risk_band
        else "case risk not assessed"
    )
    return f"{_ACCESS_PHRASE.get(case.access_to_children, 'access unknown')}; {risk}"


def attention(facts: DeviceFacts, has_evidence: bool = False) -> tuple[str, ...]:
    """Why a device needs a person to look at it, whatever it matched.

    A scan that stopped early (``--stop-after`` N confident hits) is only a
    flag when it found nothing that counts; with evidence it is the intended
    fast path, and the reason says the counts are a lower bound.
    """
    out: list[str] = []
    if facts.status == "failed":
        out.append(f"scan failed: {facts.failure or 'no reason recorded'}")
    for region in facts.unreadable:
        out.append(f"not read: {region}")
    if facts.conflicts:
        out.append(
            f"{len(facts.conflicts)} hash conflict(s) with a known set (one hash "
            "agrees, the other not): check by hand"
        )
    if facts.status == "stopped-early" and not has_evidence:
        out.append("scan stopped early: not all of the device was searched")
    seen = facts.media_count + facts.skipped_count
    if (
        facts.skipped_count >= UNREADABLE_MIN
        and facts.skipped_count >= UNREADABLE_SHARE * seen
    ):
        out.append(f"{facts.skipped_count} items could not be read")
    return tuple(out)


#: Device statuses of a scan that has not run to its end (nothing found yet
#: means nothing looked at yet).
UNFINISHED: tuple[str, ...] = ("awaiting", "scanning", "interrupted")


def tier_of(facts: DeviceFacts, score: DeviceScore) -> str:
    """The tier (see the module docstring)."""
    if score.has_evidence:
        return "known-material"
    if attention(facts):
        return "needs-attention"
    if facts.status in UNFINISHED:
        return "not-scanned"
    return "nothing-found"


@dataclass(frozen=True, slots=True)
class RankedDevice:
    """One row of the queue."""

    rank: int
    facts: DeviceFacts
    case: Case
    score: DeviceScore
    tier: str
    safeguarding: float
    priority: float
    attention: tuple[str, ...]  # non-empty: flagged for manual attention
    reason: str

    @property
    def device_id(self) -> str:
        return self.facts.device_id


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _where_found(confident: Sequence[KnownItem]) -> str:
    """ ", 1 exact / 1 near-identical, 1 only in deleted space, ...": how the
    confident items matched and where their copies are."""
    out = ""
    exact = sum(1 for i in confident if i.exact)
    if exact != len(confident):
        out += f", {exact} exact / {len(confident) - exact} near-identical"
    deleted_only = sum(1 for i in confident if i.deleted_only)
    if deleted_only:
        out += f", {deleted_only} only in deleted space"
    archived = sum(1 for i in confident if i.in_archive)
    if archived:
        out += f", {archived} in archives"
    thumbnails = sum(1 for i in confident if i.thumbnail_only)
    if thumbnails:
        out += (
            f", {_plural(thumbnails, 'known image')} only in a thumbnail cache "
            "(viewed on this device; original not found)"
        )
    embedded = sum(1 for i in confident if i.embedded_only)
    if embedded:
        out += (
            f", {_plural(embedded, 'known image')} only inside other files "
            "(EXIF thumbnails, documents or databases; original not found)"
        )
    return out


def clock(seconds: float) -> str:
    """Seconds as HH:MM:SS, as a video player shows a time."""
    whole = int(seconds)
    return f"{whole // 3600:02}:{whole % 3600 // 60:02}:{whole % 60:02}"


#: A known video matched with less than this share (percent) of its frames
#: found is called "a clip of it" in reasons; above, "re-encoded" (vPDQ frames
#: drift apart under re-encoding, so a whole copy rarely finds all of them).
CLIP_SHARE = 60.0


def video_note(m: DeviceMatch) -> str | None:
    """What the report and the VICS ``Comments`` say of a video match: the
    frame shares of a known video, or when a known picture is shown (None
    for other matches)."""
    if m.item_share is not None:
        return (
            f"known video (vPDQ): {m.item_share:.0f}% of this file's frames, "
            f"{m.known_share or 0:.0f}% of the known video's frames"
        )
    if m.at_seconds is not None:
        return f"known image shown in this video at {clock(m.at_seconds)}"
    return None


def video_phrase(item: KnownItem) -> str:
    """How a known video matched: "re-encoded, 84% of its frames"."""
    if item.item_share is None:
        return "exact copy" if item.exact else "matched"
    item_share, known_share = item.item_share or 0.0, item.known_share or 0.0
    if item_share < ITEM_SHARE_THRESHOLD:  # matched by the known share alone
        how = "inside longer footage"
    elif known_share < CLIP_SHARE:
        how = "a clip of it"
    else:
        how = "re-encoded" if item.distance else "frame for frame"
    return f"{how}, {known_share:.0f}% of its frames"


def _videos_and_shown(confident: Sequence[KnownItem]) -> list[str]:
    """ "1 known video (category A) re-encoded, 84% of its frames", "known
    image shown in a video at 00:01:23": what videos held, three at most."""
    out = [
        f"1 known video ({i.grade.label}) {video_phrase(i)}"
        for i in confident
        if i.is_video
    ]
    out += [
        f"known image shown in a video at {clock(i.at_seconds)}"
        for i in confident
        if i.at_seconds is not None
    ]
    if len(out) > 3:
        out = [*out[:3], f"and {len(out) - 3} more in videos"]
    return out


def reason_line(
    facts: DeviceFacts, score: DeviceScore, case: Case, flags: tuple[str, ...]
) -> str:
    """The plain-language reason, e.g. "12 known images (3 category A, 9
    category C), 2 only in deleted space; suspect lives with children; ..."."""
    parts: list[str] = []
    confident = score.confident_items
    possible = score.possible_items
    if confident:
        by_grade: dict[str, tuple[int, int]] = {}
        for item in confident:
            n, order = by_grade.get(item.grade.label, (0, item.grade.order))
            by_grade[item.grade.label] = (n + 1, order)
        breakdown = ", ".join(
            f"{n} {label}"
            for label, (n, _) in sorted(
                by_grade.items(), key=lambda kv: (-kv[1][1], kv[0])
            )
        )
        videos = sum(1 for i in confident if i.is_video)
        counted = (
            [_plural(len(confident) - videos, "known image")]
            if (len(confident) > videos)
            else []
        )
        if videos:
            counted.append(_plural(videos, "known video"))
        head = f"{' and '.join(counted)} ({breakdown})"
        head += _where_found(confident)
        shown = _videos_and_shown(confident)
        if shown:
            head += ": " + ", ".join(shown)
        if facts.status == "stopped-early":
            head += " (scan stopped early: counts are a lower bound)"
        elif facts.status == "interrupted":
            head += " (scan interrupted: counts are a lower bound)"
        parts.append(head)
        if possible:
            parts.append(
                _plural(len(possible), "possible near-match", "possible near-matches")
            )
    elif possible:
        best = max(possible, key=lambda i: i.probability)
        parts.append(
            f"no confident match; "
            f"{_plural(len(possible), 'possible near-match', 'possible near-matches')}"
            f" (best p={best.probability:.2f}, {best.grade.label})"
        )
    elif facts.status in UNFINISHED and not flags:
        parts.append(
            {
                "awaiting": "awaiting scan",
                "scanning": "scan in progress",
                "interrupted": "scan interrupted before it finished (its process "
                "is gone): run the same scan again to resume",
            }[facts.status]
        )
    elif not flags:
        held = f"nothing known found in {_plural(facts.media_count, 'media item')}"
        extras = [
            f"{n} {what}"
            for n, what in (
                (facts.deleted_media, "deleted"),
                (facts.carved_media, "carved"),
                (facts.archive_media, "in archives"),
            )
            if n
        ]
        if extras:
            held += f" ({', '.join(extras)})"
        parts.append(held)
    if flags:
        lead = (
            "NOT CLEAN - manual attention: "
            if not score.has_evidence
            else "manual attention: "
        )
        parts.append(lead + "; ".join(flags))
    parts.append(safeguarding_phrase(case))
    return "; ".join(parts)


def rank(
    facts: Iterable[DeviceFacts],
    cases: Mapping[str, Case],
    calibration: Calibration | None = None,
) -> list[RankedDevice]:
    """Score and order devices (see the module docstring); ranks start at 1.

    A device whose case is not in ``cases`` (or has none) is treated as a case
    with access to children unknown and risk not assessed.
    """
    cal = calibration or load_calibration()
    rows: list[RankedDevice] = []
    for f in facts:
        case = cases.get(f.case_id or "") or Case(f.case_id or "(no case)")
        score = score_device(f, cal)
        weight = safeguarding(case)
        flags = attention(f, score.has_evidence)
        tier = tier_of(f, score)
        priority = score.evidence * (1.0 + SAFEGUARDING_GAIN * weight)
        rows.append(
            RankedDevice(
                rank=0,
                facts=f,
                case=case,
                score=score,
                tier=tier,
                safeguarding=weight,
                priority=priority,
                attention=flags,
                reason=reason_line(f, score, case, flags),
            )
        )

    def key(r: RankedDevice) -> tuple[object, ...]:
        tier = TIERS.index(r.tier)
        if r.tier == "known-material":
            return (
                tier,
                -round(r.priority, 12),
                -round(r.score.evidence, 12),
                r.case.case_id,
                r.device_id,
            )
        return (
            tier,
            -round(r.safeguarding, 12),
            -r.facts.media_count,
            r.case.case_id,
            r.device_id,
        )

    rows.sort(key=key)
    return [replace(r, rank=i) for i, r in enumerate(rows, start=1)]
