"""Score one device: how likely it holds known indecent images, how severe, why.

Pure functions over plain records (no database, no Dask). The rule, in words
(docs/queue.md has the worked example):

1. Every match becomes a probability ``p`` that the file really is a copy of
   the known item: an exact cryptographic match (MD5/SHA-1/SHA-256) is
   ``EXACT_PROBABILITY``; a perceptual match is looked up by its distance in
   the calibration table of its algorithm (H3's
   ``triage/hashmatch/calibration.json`` when present, else
   ``BUILTIN_CALIBRATION``).
2. Known-good matches never count. A file that is exactly in a known-good set
   (e.g. NSRL) has its perceptual known-bad matches ignored too: its identity
   is known, the resemblance is coincidence.
3. Matches are grouped by known item ``(set name, entry id)``: many copies of
   one known item count once, with the best ``p`` among them. Each file can be
   evidence for at most one known item (greedy, best ``p`` first), so one file
   resembling ten known pictures is one piece of evidence, not ten; a video
   is one piece per moment a known picture is first shown in it (a slideshow
   of five known pictures is five; first shown under ``SAME_MOMENT_SECONDS``
   apart is one moment), and one for its match as a known video.
4. ``likelihood = 1 - prod(1 - p_i)`` over the distinct items: independent
   weak matches add up, one certain match is certain.
5. ``severity = max(p_i * weight(category_i))``: the worst category, discounted
   by how sure the match is (``GRADES``: CAID A > B > C; VICS 1 > 3 > 2;
   VICS 0 non-pertinent and 4 comparison never count).
6. ``volume = min(1, log10(1 + confident items) / 3)``: a collection of
   1000 confident items reaches 1.
7. ``evidence = 0.45 likelihood + 0.40 severity + 0.15 volume``.

The case's safeguarding weight and the ordering live in ``rank.py``.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from triage.errors import UsageError
from triage.hashmatch.signals import exact_signals, perceptual_signals

#: Signals whose matches are exact (the registered exact signals).
EXACT_ALGORITHMS = frozenset(s.name for s in exact_signals())
# An exact hash match is the listed file; the residue allows for a mislabelled
# set entry, never for a hash collision.
EXACT_PROBABILITY = 0.999
# An item at or above this probability is reported as a "known image"; below
# it, as a "possible near-match".
CONFIDENT = 0.5

W_LIKELIHOOD = 0.45
W_SEVERITY = 0.40
W_VOLUME = 0.15

# The shape of the built-in distance -> P(true copy) table, as (fraction of the
# algorithm's match threshold, p). Used until (or where)
# triage/hashmatch/calibration.json has no table for an algorithm. PDQ: Meta
# documents 31 (of 256 bits) as the confident-match threshold and unrelated
# pictures sit near 128; we place p = 0.5 AT the threshold (conservative) and
# fall to ~0 at 2.6 thresholds, well before unrelated territory. Every
# perceptual signal in triage.hashmatch.signals gets this shape scaled to
# its own default threshold.
BUILTIN_SHAPE: tuple[tuple[float, float], ...] = (
    (0.0, 0.99),
    (1 / 3, 0.95),
    (2 / 3, 0.80),
    (1.0, 0.50),
    (1.3, 0.20),
    (1.6, 0.05),
    (2.0, 0.01),
    (2.6, 0.0),
)


def builtin_table(threshold: int) -> tuple[tuple[int, float], ...]:
    """``BUILTIN_SHAPE`` scaled to a match threshold (distinct distances)."""
    table: dict[int, float] = {}
    for fraction, p in BUILTIN_SHAPE:
        table.setdefault(round(fraction * threshold), p)
    return tuple(sorted(table.items()))


def _builtin_calibration() -> dict[str, tuple[tuple[int, float], ...]]:
    return {
        signal.name: builtin_table(signal.threshold)
        for signal in perceptual_signals()
        if signal.threshold > 0
    }


BUILTIN_CALIBRATION: dict[str, tuple[tuple[int, float], ...]] = _builtin_calibration()


@dataclass(frozen=True, slots=True)
class Grade:
    """What a category means for priority."""

    label: str  # what a person reads: "category A", "VICS 1 (CSAM)"
    weight: float  # severity in [0, 1]
    counts: bool  # evidence of known indecent/abusive material at all?
    order: int  # for listing worst first (higher = worse)


# One table of every category the queue understands. CAID (UK Child Abuse
# Image Database) follows the sentencing-council categories A (penetrative /
# sadism / bestiality), B (non-penetrative), C (other indecent). Project VIC's
# VICS categories (as Autopsy's Project VIC tag set names them): 1 child abuse
# material (CAM; not graded A/B/C, so it may be A: weighted just under A),
# 3 CGI / animation child-exploitive (prohibited images in the UK),
# 2 child-exploitive non-CAM / age difficult (not indecent by itself),
# 0 non-pertinent and 4 comparison images (not abusive: never count).
# Anything else, or no category, is UNGRADED: a known-bad set listed the
# item, so it counts, at a middle weight.
GRADES: dict[tuple[str, str], Grade] = {
    ("caid", "A"): Grade("category A", 1.0, True, 90),
    ("caid", "B"): Grade("category B", 0.8, True, 80),
    ("caid", "C"): Grade("category C", 0.6, True, 60),
    ("vics", "1"): Grade("VICS 1 (CAM)", 0.9, True, 85),
    ("vics", "3"): Grade("VICS 3 (CGI/animation)", 0.5, True, 50),
    ("vics", "2"): Grade("VICS 2 (exploitive, non-CAM)", 0.3, True, 30),
    ("vics", "0"): Grade("VICS 0 (non-pertinent)", 0.0, False, 0),
    ("vics", "4"): Grade("VICS 4 (comparison)", 0.0, False, 0),
}
UNGRADED = Grade("ungraded", 0.5, True, 40)


def grade(category: str | None, scheme: str | None) -> Grade:
    """The grade of a set's category; unknown or missing categories are
    ``UNGRADED`` (they still count: a known-bad set listed the item)."""
    if category is None or not str(category).strip():
        return UNGRADED
    value = str(category).strip().upper()
    if value.startswith("CATEGORY "):
        value = value.removeprefix("CATEGORY ").strip()
    if scheme in ("caid", "vics"):
        return GRADES.get((scheme, value), UNGRADED)
    # "local" or unnamed schemes: letters read as CAID, digits as VICS.
    if value in ("A", "B", "C"):
        return GRADES[("caid", value)]
    return GRADES.get(("vics", value), UNGRADED)


class Calibration:
    """Distance -> probability that a perceptual match is a true copy.

    Piecewise-linear interpolation of a per-algorithm table, made monotone
    (never rising with distance); beyond the last point the last value holds.
    """

    def __init__(
        self,
        tables: Mapping[str, Sequence[tuple[int, float]]],
        source: str = "built-in",
    ) -> None:
        self.source = source
        self._tables: dict[str, tuple[list[int], list[float]]] = {}
        for algorithm, points in tables.items():
            pts = sorted((int(d), float(p)) for d, p in points)
            if not pts:
                continue
            xs, ys, floor = [], [], 1.0
            for d, p in pts:
                floor = min(floor, max(0.0, min(1.0, p)))
                xs.append(d)
                ys.append(floor)
            self._tables[algorithm.lower()] = (xs, ys)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted(self._tables))

    def probability(self, algorithm: str, distance: int) -> float:
        """P(true copy) for a match; exact algorithms give EXACT_PROBABILITY.

        Raises:
            UsageError: no table for a perceptual ``algorithm``.
        """
        name = algorithm.lower()
        if name in EXACT_ALGORITHMS:
            return EXACT_PROBABILITY
        try:
            xs, ys = self._tables[name]
        except KeyError as exc:
            raise UsageError(
                f"no calibration for algorithm {algorithm!r} ({self.source}); "
                f"known: {', '.join(self.algorithms)}"
            ) from exc
        if distance <= xs[0]:
            return ys[0]
        if distance >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, distance)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (distance - x0) / (x1 - x0)


def _parse_calibration(data: object, source: str) -> dict[str, list[tuple[int, float]]]:
    """Read the tables of a calibration JSON in the shapes we accept:
    ``{"algorithms": {name: TABLE}}`` or ``{name: TABLE}``, where TABLE is a
    list of ``[distance, p]`` pairs, a list of ``{"distance", "p"|"probability"}``
    objects, an object ``{"points": ...}``/``{"table": ...}`` holding one of
    those, an object with ``"p_copy"``: a list of p indexed by distance (what
    ``benchmarks/calibrate.py`` writes), or a ``{"distance": p}`` mapping."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: calibration must be a JSON object")
    body = data.get("algorithms", data)
    if not isinstance(body, dict):
        raise UsageError(f"{source}: 'algorithms' must be an object")
    tables: dict[str, list[tuple[int, float]]] = {}
    for name, table in body.items():
        if name.startswith(("_", "@")) or name in {"version", "format", "note"}:
            continue
        if isinstance(table, dict):
            if isinstance(table.get("p_copy"), list):  # indexed by distance
                table = [[d, p] for d, p in enumerate(table["p_copy"])]
        if isinstance(table, dict):
            inner = next(
                (table[k] for k in ("points", "table", "probability") if k in table),
                None,
            )
            if inner is None:
                if all(_is_number(k) for k in table):
                    inner = [[int(k), v] for k, v in table.items()]
                else:
                    continue  # metadata such as a description
            table = inner
        if isinstance(table, dict):
            table = [[int(k), v] for k, v in table.items()]
        if not isinstance(table, list):
            continue
        points: list[tuple[int, float]] = []
        for row in table:
            try:
                if isinstance(row, dict):
                    d = row["distance"]
                    p = next(
                        row[k]
                        for k in ("p", "probability", "p_true", "precision")
                        if k in row
                    )
                else:
                    d, p = row[0], row[1]
                points.append((int(d), float(p)))
            except (KeyError, StopIteration, IndexError, TypeError, ValueError) as exc:
                raise UsageError(
                    f"{source}: algorithm {name!r}: bad calibration point {row!r}"
                ) from exc
        if points:
            tables[name.lower()] = points
    return tables


def _is_number(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _pointwise_min(
    measured: Sequence[tuple[int, float]], prior: Sequence[tuple[int, float]]
) -> list[tuple[int, float]]:
    """min(measured(d), prior(d)) at every integer distance both tables span."""
    a, b = Calibration({"x": measured}), Calibration({"x": prior})
    last = max(max(d for d, _ in measured), max(d for d, _ in prior))
    return [
        (d, min(a.probability("x", d), b.probability("x", d))) for d in range(last + 1)
    ]


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The calibration in use: ``path`` if given, else the hashing stage's
    ``triage/hashmatch/calibration.json`` when it exists.

    A measured table never makes a match more certain than the built-in,
    threshold-anchored table says (p = 0.5 at the matcher's threshold): the
    result is ``min(measured, built-in)`` at each distance. The measured
    tables come from a few hundred thousand unrelated pairs at equal prior
    odds, which cannot resolve false-match rates below ~1e-5 per pair, while a
    real known-image set holds millions of entries; so measured data may only
    lower ``p`` (where it saw unrelated pictures), never raise it. Algorithms
    only in the file use its table as is; algorithms only built in keep
    theirs.

    Raises:
        UsageError: the file exists but is not a calibration table.
    """
    tables: dict[str, Sequence[tuple[int, float]]] = dict(BUILTIN_CALIBRATION)
    text: str | None = None
    source = "built-in"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read calibration: {exc}") from exc
    else:
        resource = resources.files("triage.hashmatch").joinpath("calibration.json")
        if resource.is_file():
            source = "triage/hashmatch/calibration.json"
            text = resource.read_text(encoding="utf-8")
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source}: not JSON: {exc}") from exc
        parsed = _parse_calibration(data, source)
        for name, points in parsed.items():
            prior = BUILTIN_CALIBRATION.get(name)
            tables[name] = _pointwise_min(points, prior) if prior else points
        if parsed:
            source += (
                " (" + ", ".join(sorted(parsed)) + ": min(measured, built-in); "
                "others built-in)"
            )
        else:
            source += " (no tables found: built-in used)"
    return Calibration(tables, source)


@dataclass(frozen=True, slots=True)
class DeviceMatch:
    """One match as the queue sees it: a ``Match`` plus where the file was."""

    address: str
    set_name: str
    entry_id: str
    algorithm: str
    distance: int
    category: str | None = None
    scheme: str | None = None
    known_good: bool = False
    set_digest: str = ""
    variant: str = "original"
    path: str = ""  # display path
    deleted: bool = False
    carved: bool = False
    in_archive: bool = False
    # Kept by a thumbnail cache (the system showed the picture; source
    # "thumbnail-cache"), not a file of its own.
    thumbnail_cache: bool = False
    # A picture inside another file (an EXIF thumbnail, a document's image,
    # a database BLOB; source "embedded"), not a file of its own.
    embedded: bool = False
    # A known video (algorithm "vpdq"): shares (percent) of the file's frames
    # found in it and of its frames found in the file; a known picture shown
    # in a video: when (seconds).
    item_share: float | None = None
    known_share: float | None = None
    at_seconds: float | None = None
    video: bool = False  # the matched file is a video


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """Everything the queue needs to know about one device."""

    device_id: str
    case_id: str | None = None
    # awaiting|scanning|interrupted|scanned|stopped-early|failed; interrupted:
    # the scan's process is gone (killed) before it finished
    status: str = "awaiting"
    evidence: str = ""
    container: str | None = None  # registered container name ("ffs-zip", ...)
    media_count: int = 0
    deleted_media: int = 0
    carved_media: int = 0
    archive_media: int = 0
    skipped_count: int = 0  # items (files, archives, regions) not read/processed
    unreadable: tuple[str, ...] = ()  # whole regions not read: "p2: bad NTFS ..."
    conflicts: tuple[str, ...] = ()  # MD5 agrees with a set entry, SHA-1 not (or v.v.)
    failure: str | None = None  # why the device failed, when it did
    first_hit_seconds: float | None = None
    matches: tuple[DeviceMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class KnownItem:
    """One distinct known item on the device, with its best evidence."""

    set_name: str
    entry_id: str
    probability: float
    grade: Grade
    algorithm: str  # of the best match
    distance: int
    copies: int  # files that matched this item
    deleted_only: bool  # every copy is deleted or carved
    carved: bool  # some copy was carved
    in_archive: bool  # some copy is inside an archive
    best_path: str
    thumbnail_only: bool = False  # every copy is in a thumbnail cache
    embedded_only: bool = False  # every copy is inside another file
    # Of the best match: a known video's frame shares (percent), or when a
    # known picture is shown in a video (seconds).
    item_share: float | None = None
    known_share: float | None = None
    at_seconds: float | None = None
    video: bool = False  # the best match's file is a video

    @property
    def is_video(self) -> bool:
        """A known video: matched by its frames (vPDQ), or a video file
        matched exactly (not a known picture shown in a video)."""
        if self.at_seconds is not None:
            return False
        return self.video or self.item_share is not None

    @property
    def exact(self) -> bool:
        return self.algorithm.lower() in EXACT_ALGORITHMS

    def where(self) -> list[str]:
        """Where the copies were, in words (``--explain``): "carved", ..."""
        flags = (
            (self.deleted_only, "deleted/carved only"),
            (self.carved, "carved"),
            (self.in_archive, "in archive"),
            (self.thumbnail_only, "thumbnail cache only"),
            (self.embedded_only, "inside other files only"),
        )
        return [label for present, label in flags if present]

    @property
    def confident(self) -> bool:
        return self.probability >= CONFIDENT


@dataclass(frozen=True, slots=True)
class Factor:
    """One term of the score, with its value and how it was reached."""

    name: str
    value: float
    detail: str


@dataclass(frozen=True, slots=True)
class DeviceScore:
    """The queue's verdict on one device (before case safeguarding)."""

    device_id: str
    likelihood: float  # P(device holds at least one known item), [0, 1]
    severity: float  # worst p * category weight, [0, 1]
    volume: float  # [0, 1]
    evidence: float  # weighted sum of the three, [0, 1]
    items: tuple[KnownItem, ...] = ()  # counted items, best first
    ignored: tuple[str, ...] = ()  # what did not count, and why
    factors: tuple[Factor, ...] = field(default=())

    @property
    def has_evidence(self) -> bool:
        return bool(self.items)

    @property
    def confident_items(self) -> tuple[KnownItem, ...]:
        return tuple(i for i in self.items if i.confident)

    @property
    def possible_items(self) -> tuple[KnownItem, ...]:
        return tuple(i for i in self.items if not i.confident)

    @property
    def worst(self) -> Grade | None:
        """The worst grade among confident items (else among possible ones)."""
        pool = self.confident_items or self.items
        if not pool:
            return None
        return max(pool, key=lambda i: (i.grade.order, i.probability)).grade


def match_probability(m: DeviceMatch, cal: Calibration) -> float | None:
    """``p`` of one match as the score uses it; None when it cannot count
    (known-good, a non-pertinent category, or an algorithm with no table)."""
    if m.known_good or not grade(m.category, m.scheme).counts:
        return None
    name = m.algorithm.lower()
    if name not in EXACT_ALGORITHMS and name not in cal.algorithms:
        return None
    return cal.probability(m.algorithm, m.distance)


def _volume(confident: int) -> float:
    return min(1.0, math.log10(1 + confident) / 3)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A match that counts: its ``p``, its grade, and the known item it is for."""

    p: float
    grade: Grade
    item: tuple[str, str]  # (set name, entry id)
    match: DeviceMatch


def _is_exact(m: DeviceMatch) -> bool:
    return m.algorithm.lower() in EXACT_ALGORITHMS


def _candidates(
    facts: DeviceFacts, cal: Calibration
) -> tuple[list[_Candidate], list[str]]:
    """The matches that count (rule 2), and what did not, in words."""
    ignored: list[str] = []
    known_good_files = {
        m.address for m in facts.matches if m.known_good and _is_exact(m)
    }
    n_good = sum(1 for m in facts.matches if m.known_good)
    if n_good:
        ignored.append(f"{n_good} known-good match(es) never count")
    candidates: list[_Candidate] = []
    dropped_pc = dropped_np = too_far = 0
    uncalibrated: dict[str, int] = {}
    for m in facts.matches:
        if m.known_good:
            continue
        exact = _is_exact(m)
        if not exact and m.address in known_good_files:
            dropped_pc += 1
            continue
        g = grade(m.category, m.scheme)
        if not g.counts:
            dropped_np += 1
            continue
        if not exact and m.algorithm.lower() not in cal.algorithms:
            uncalibrated[m.algorithm] = uncalibrated.get(m.algorithm, 0) + 1
            continue
        p = cal.probability(m.algorithm, m.distance)
        if p <= 0.0:
            too_far += 1
            continue
        candidates.append(_Candidate(p, g, (m.set_name, str(m.entry_id)), m))
    if dropped_pc:
        ignored.append(
            f"{dropped_pc} perceptual match(es) on files exactly in a known-good set"
        )
    if dropped_np:
        ignored.append(f"{dropped_np} match(es) to non-pertinent categories")
    if too_far:
        ignored.append(f"{too_far} perceptual match(es) too distant to count (p = 0)")
    for name, n in sorted(uncalibrated.items()):
        ignored.append(
            f"{n} {name} match(es): no calibration for {name!r} ({cal.source})"
        )
    return candidates, ignored


#: Matches in one video first shown closer than this (seconds) are one
#: moment: near copies of one picture in the set may first match a sampled
#: frame (one a second) a second apart.
SAME_MOMENT_SECONDS = 2.0


def _same_moment(at: float | None, used: list[float | None]) -> bool:
    """Whether a match at ``at`` (None: not in a video's frames) is evidence
    a match already counted in the same file was."""
    if at is None:
        return None in used
    return any(u is not None and abs(u - at) < SAME_MOMENT_SECONDS for u in used)


def _assign(candidates: list[_Candidate]) -> tuple[list[KnownItem], int]:
    """Rule 3: one item per known item and one known item per file, greedy,
    best evidence first (deterministic). Also how many known items were left
    with no file of their own."""
    # All files matching each item (for the deleted-only / carved / archive flags).
    files_of: dict[tuple[str, str], dict[str, DeviceMatch]] = {}
    for c in candidates:
        files_of.setdefault(c.item, {}).setdefault(c.match.address, c.match)
    ordered = sorted(
        candidates,
        key=lambda c: (
            -c.p,
            -c.grade.weight,
            c.item,
            c.match.address,
            c.match.algorithm,
        ),
    )
    used_items: set[tuple[str, str]] = set()
    used_files: dict[str, list[float | None]] = {}  # address -> moments used
    items: list[KnownItem] = []
    for c in ordered:
        m = c.match
        # A video is evidence once per moment: pictures shown at other times
        # in it are other pieces of evidence; a picture file is one piece.
        moments = used_files.setdefault(m.address, [])
        if c.item in used_items or _same_moment(m.at_seconds, moments):
            continue
        used_items.add(c.item)
        moments.append(m.at_seconds)
        copies = files_of[c.item].values()
        items.append(
            KnownItem(
                set_name=c.item[0],
                entry_id=c.item[1],
                probability=c.p,
                grade=c.grade,
                algorithm=m.algorithm,
                distance=m.distance,
                copies=len(copies),
                deleted_only=all(f.deleted or f.carved for f in copies),
                carved=any(f.carved for f in copies),
                in_archive=any(f.in_archive for f in copies),
                best_path=m.path or m.address,
                thumbnail_only=all(f.thumbnail_cache for f in copies),
                embedded_only=all(f.embedded for f in copies),
                item_share=m.item_share,
                known_share=m.known_share,
                at_seconds=m.at_seconds,
                video=m.video,
            )
        )
    return items, len(set(files_of) - used_items)


def _factors(items: list[KnownItem]) -> tuple[Factor, ...]:
    """Rules 4-7: likelihood, severity, volume and evidence, each with how
    it was reached."""
    miss = 1.0
    for item in items:
        miss *= 1.0 - item.probability
    likelihood = 1.0 - miss
    worst = max(items, key=lambda i: i.probability * i.grade.weight, default=None)
    severity = worst.probability * worst.grade.weight if worst else 0.0
    n_conf = sum(1 for i in items if i.confident)
    volume = _volume(n_conf)
    evidence = W_LIKELIHOOD * likelihood + W_SEVERITY * severity + W_VOLUME * volume
    return (
        Factor(
            "likelihood",
            likelihood,
            f"1 - prod(1 - p) over {len(items)} distinct known item(s)",
        ),
        Factor(
            "severity",
            severity,
            (
                f"{worst.grade.label} (weight {worst.grade.weight:g}) x p "
                f"{worst.probability:.3f}"
                if worst
                else "no counted match"
            ),
        ),
        Factor("volume", volume, f"min(1, log10(1 + {n_conf} confident) / 3)"),
        Factor(
            "evidence",
            evidence,
            f"{W_LIKELIHOOD:g} likelihood + {W_SEVERITY:g} severity + "
            f"{W_VOLUME:g} volume",
        ),
    )


def score_device(
    facts: DeviceFacts, calibration: Calibration | None = None
) -> DeviceScore:
    """Score the device's matches (see the module docstring for the rule)."""
    cal = calibration or load_calibration()
    candidates, ignored = _candidates(facts, cal)
    items, unassigned = _assign(candidates)
    if unassigned:
        ignored.append(
            f"{unassigned} known item(s) matched only by files already counted "
            "for a better match"
        )
    factors = _factors(items)
    likelihood, severity, volume, evidence = (f.value for f in factors)
    return DeviceScore(
        device_id=facts.device_id,
        likelihood=likelihood,
        severity=severity,
        volume=volume,
        evidence=evidence,
        items=tuple(items),
        ignored=tuple(ignored),
        factors=factors,
    )


def score_all(
    facts: Iterable[DeviceFacts], calibration: Calibration | None = None
) -> list[DeviceScore]:
    """``score_device`` for each device, sharing one calibration."""
    cal = calibration or load_calibration()
    return [score_device(f, cal) for f in facts]
