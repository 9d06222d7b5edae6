"""Explain one device's rank: every term, its value, and where it came from.

Pure text from a ``RankedDevice`` (no database), so ``triage queue --explain``
and the report say exactly the same thing.
"""

from __future__ import annotations

from triage.queue.rank import (
    ACCESS_WEIGHT,
    RISK_WEIGHT,
    SAFEGUARDING_GAIN,
    W_ACCESS,
    W_RISK,
    RankedDevice,
    clock,
)

MAX_ITEMS = 50  # items listed; the rest are counted


def explain(row: RankedDevice, *, max_items: int = MAX_ITEMS) -> list[str]:
    """Lines of text explaining ``row``'s place in the queue."""
    f, s, c = row.facts, row.score, row.case
    lines = [
        f"device {f.device_id}  (case {c.case_id}, status {f.status})",
        f"rank {row.rank}, tier {row.tier}",
        f"reason: {row.reason}",
        "",
        "evidence:",
    ]
    for factor in s.factors:
        lines.append(f"  {factor.name:<11}= {factor.value:.4f}   {factor.detail}")
    access = ACCESS_WEIGHT.get(c.access_to_children, 0.0)
    risk = RISK_WEIGHT.get(c.risk_band, 0.0)
    lines += [
        "",
        "safeguarding:",
        f"  access to children {c.access_to_children} -> {access:g}; "
        f"risk band {c.risk_band or 'not assessed'} -> {risk:g}",
        f"  weight     = {W_ACCESS:g} x {access:g} + {W_RISK:g} x {risk:g} "
        f"= {row.safeguarding:.4f}",
        f"  priority   = evidence x (1 + {SAFEGUARDING_GAIN:g} x weight) = "
        f"{s.evidence:.4f} x {1 + SAFEGUARDING_GAIN * row.safeguarding:.4f} "
        f"= {row.priority:.4f}",
    ]
    if c.note:
        lines.append(f"  note: {c.note}")
    lines += ["", f"known items counted ({len(s.items)}):"]
    if not s.items:
        lines.append("  none")
    for item in s.items[:max_items]:
        where = item.where()
        if item.item_share is not None:
            where.append(
                f"video: {item.item_share or 0:.0f}% of the file's frames, "
                f"{item.known_share or 0:.0f}% of the known video's"
            )
        if item.at_seconds is not None:
            where.append(f"shown in a video at {clock(item.at_seconds)}")
        lines.append(
            f"  p={item.probability:.3f}  {item.grade.label:<24} "
            f"{item.set_name}#{item.entry_id} via {item.algorithm} "
            f"d={item.distance}, {item.copies} cop{'y' if item.copies == 1 else 'ies'}"
            + (f" [{', '.join(where)}]" if where else "")
            + f"  {item.best_path}"
        )
    if len(s.items) > max_items:
        lines.append(f"  ... and {len(s.items) - max_items} more")
    if s.ignored:
        lines += ["", "not counted:"] + [f"  {text}" for text in s.ignored]
    lines += [
        "",
        "device holds:",
        f"  {f.media_count} media items ({f.deleted_media} deleted, "
        f"{f.carved_media} carved, {f.archive_media} in archives); "
        f"{f.skipped_count} items could not be read",
    ]
    if f.first_hit_seconds is not None:
        lines.append(f"  first confident hit after {f.first_hit_seconds:.1f} s of scan")
    if row.attention:
        lines += ["", "MANUAL ATTENTION:"] + [f"  {text}" for text in row.attention]
    return lines
