"""The likelihood and ordering rules (issue 5, acceptance 1)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from triage.errors import UsageError
from triage.queue.explain import explain
from triage.queue.rank import rank, safeguarding
from triage.queue.score import (
    BUILTIN_CALIBRATION,
    EXACT_PROBABILITY,
    Calibration,
    DeviceFacts,
    DeviceMatch,
    grade,
    load_calibration,
    score_device,
)
from triage.records import Case

CAL = Calibration(BUILTIN_CALIBRATION)


def exact(address: str, entry: str, category: str = "A", **kw: object) -> DeviceMatch:
    return DeviceMatch(
        address=address,
        set_name=str(kw.pop("set_name", "caid")),
        entry_id=entry,
        algorithm="md5",
        distance=0,
        category=category,
        scheme="caid",
        path=address,
        **kw,  # type: ignore[arg-type]
    )


def near(address: str, entry: str, distance: int, category: str = "A") -> DeviceMatch:
    return DeviceMatch(
        address=address,
        set_name="caid",
        entry_id=entry,
        algorithm="pdq",
        distance=distance,
        category=category,
        scheme="caid",
        path=address,
    )


def device(device_id: str, *matches: DeviceMatch, **kw: object) -> DeviceFacts:
    params: dict[str, object] = {
        "case_id": "C1",
        "status": "scanned",
        "media_count": 100,
    }
    params.update(kw)
    return DeviceFacts(device_id, matches=tuple(matches), **params)  # type: ignore[arg-type]


def order(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [r.device_id for r in rows]


CASES = {"C1": Case("C1", "none", "medium")}


def test_exact_match_is_near_certain() -> None:
    s = score_device(device("d", exact("p0:i5:a.jpg", "17")), CAL)
    assert s.likelihood == pytest.approx(EXACT_PROBABILITY)
    assert s.worst is not None and s.worst.label == "category A"
    assert s.confident_items[0].exact


def test_one_exact_category_a_beats_fifty_distant_near_misses() -> None:
    distant = next(d for d in range(100) if CAL.probability("pdq", d) <= 0.3)
    fifty = [near(f"p0:i{i}:n{i}.jpg", f"e{i}", distant) for i in range(50)]
    rows = rank(
        [device("many-near", *fifty), device("one-exact", exact("p0:i1:x.jpg", "1"))],
        CASES,
        CAL,
    )
    assert order(rows) == ["one-exact", "many-near"]
    # Both are evidence of known material, so both sit above clean devices.
    assert {r.tier for r in rows} == {"known-material"}
    # ... and 50 weak independent matches do add up to a high likelihood.
    assert rows[1].score.likelihood > 0.99


def test_lives_with_children_ranks_above_no_access() -> None:
    cases = {
        "HOME": Case("HOME", "lives-with", "medium"),
        "NONE": Case("NONE", "none", "medium"),
    }
    m = near("p0:i3:y.jpg", "9", 20)
    facts = [
        device("a-none", m, case_id="NONE"),
        device("z-home", m, case_id="HOME"),
    ]
    assert order(rank(facts, cases, CAL)) == ["z-home", "a-none"]
    # Even a certain category-A match with no access to children waits behind
    # a confident match from a household with children.
    facts2 = [
        device("a-none", exact("p0:i1:x.jpg", "1"), case_id="NONE"),
        device("z-home", near("p0:i3:y.jpg", "9", 10, "C"), case_id="HOME"),
    ]
    assert order(rank(facts2, cases, CAL)) == ["z-home", "a-none"]


def test_unknown_access_is_not_treated_as_none() -> None:
    cases = {"U": Case("U", "unknown"), "N": Case("N", "none")}
    assert safeguarding(cases["U"]) > safeguarding(cases["N"])
    m = exact("p0:i1:x.jpg", "1", "C")
    rows = rank([device("a", m, case_id="N"), device("b", m, case_id="U")], cases, CAL)
    assert order(rows) == ["b", "a"]
    assert "UNKNOWN" in rows[0].reason
    # A device with no case at all is "unknown", not "none".
    rows = rank([device("a", m, case_id="N"), device("b", m, case_id=None)], cases, CAL)
    assert order(rows) == ["b", "a"]


def test_unreadable_device_is_flagged_not_ranked_last_as_clean() -> None:
    rows = rank(
        [
            device("clean", media_count=500),
            device(
                "broken-fs",
                media_count=0,
                unreadable=("p1: cannot open NTFS: bad MFT",),
                skipped_count=1,
            ),
            device(
                "failed",
                status="failed",
                failure="E01 segment 3 missing",
                media_count=0,
            ),
            device("hit", exact("p0:i1:x.jpg", "1")),
            device("later", status="awaiting", media_count=0),
        ],
        CASES,
        CAL,
    )
    assert order(rows) == ["hit", "broken-fs", "failed", "later", "clean"]
    broken = rows[1]
    assert broken.tier == "needs-attention" and broken.attention
    assert broken.reason.startswith("NOT CLEAN")
    assert "bad MFT" in broken.reason
    assert "segment 3 missing" in rows[2].reason
    assert rows[-1].tier == "nothing-found"
    assert "nothing known found in 500 media items" in rows[-1].reason


def test_many_unreadable_items_flag_a_device() -> None:
    rows = rank([device("d", media_count=20, skipped_count=10)], CASES, CAL)
    assert rows[0].tier == "needs-attention"
    rows = rank([device("d", media_count=2000, skipped_count=3)], CASES, CAL)
    assert rows[0].tier == "nothing-found"


def test_device_with_hit_and_failure_is_both_ranked_and_flagged() -> None:
    rows = rank(
        [device("d", exact("p0:i1:x.jpg", "1"), status="failed", failure="I/O error")],
        CASES,
        CAL,
    )
    assert rows[0].tier == "known-material"
    assert rows[0].attention == ("scan failed: I/O error",)
    assert "manual attention: scan failed: I/O error" in rows[0].reason


def test_ties_are_stable_and_independent_of_input_order() -> None:
    m = exact("p0:i1:x.jpg", "1", "B")
    facts = [device(f"dev{i:02d}", m) for i in range(8)] + [
        device(f"clean{i}") for i in range(4)
    ]
    expected = [f"dev{i:02d}" for i in range(8)] + [f"clean{i}" for i in range(4)]
    rng = random.Random(5)
    for _ in range(5):
        shuffled = facts[:]
        rng.shuffle(shuffled)
        assert order(rank(shuffled, CASES, CAL)) == expected
    assert [r.rank for r in rank(facts, CASES, CAL)] == list(range(1, 13))


def test_known_good_matches_never_count() -> None:
    good = DeviceMatch(
        "p0:i1:logo.png", "nsrl", "k1", "sha1", 0, scheme="nsrl", known_good=True
    )
    s = score_device(device("d", good), CAL)
    assert s.likelihood == 0 and not s.has_evidence
    assert rank([device("d", good)], CASES, CAL)[0].tier == "nothing-found"
    # A file exactly in a known-good set: its perceptual known-bad matches are
    # coincidence, and do not count either.
    lookalike = near("p0:i1:logo.png", "77", 12)
    s = score_device(device("d", good, lookalike), CAL)
    assert not s.has_evidence
    assert any("known-good" in text for text in s.ignored)


def test_many_copies_of_one_item_count_once() -> None:
    copies = [exact(f"p0:i{i}:copy{i}.jpg", "same") for i in range(30)]
    one = score_device(device("d", copies[0]), CAL)
    many = score_device(device("d", *copies), CAL)
    assert len(many.items) == 1 and many.items[0].copies == 30
    assert many.likelihood == one.likelihood
    assert many.evidence == one.evidence
    # ... while distinct items do add up.
    two = score_device(device("d", copies[0], exact("p0:i99:o.jpg", "other")), CAL)
    assert len(two.items) == 2 and two.volume > one.volume


def test_one_file_is_evidence_for_one_item() -> None:
    file_matches = [near("p0:i1:flat.jpg", f"e{i}", 25) for i in range(10)]
    s = score_device(device("d", *file_matches), CAL)
    assert len(s.items) == 1
    assert s.likelihood == pytest.approx(CAL.probability("pdq", 25))


def test_weak_matches_combine_independently() -> None:
    p = CAL.probability("pdq", 35)
    s = score_device(
        device("d", near("p0:i1:a", "1", 35), near("p0:i2:b", "2", 35)), CAL
    )
    assert s.likelihood == pytest.approx(1 - (1 - p) ** 2)


def test_category_severity_orders_devices() -> None:
    rows = rank(
        [
            device("c", exact("p0:i1:x", "1", "C")),
            device("a", exact("p0:i1:x", "2", "A")),
            device("b", exact("p0:i1:x", "3", "B")),
        ],
        CASES,
        CAL,
    )
    assert order(rows) == ["a", "b", "c"]


def test_vics_categories() -> None:
    assert (
        grade("1", "vics").weight
        > grade("3", "vics").weight
        > grade("2", "vics").weight
    )
    assert not grade("0", "vics").counts  # non-pertinent
    assert not grade("4", "vics").counts  # comparison images
    assert (
        grade("A", "caid").weight
        > grade("B", "caid").weight
        > grade("C", "caid").weight
    )
    assert grade(None, "caid").counts  # ungraded known-bad still counts
    assert grade("Category A", None).label == "category A"
    comparison = DeviceMatch("p0:i1:x", "vics", "5", "md5", 0, "4", "vics")
    assert not score_device(device("d", comparison), CAL).has_evidence


def test_deleted_only_and_reason_line() -> None:
    facts = device(
        "d",
        exact("p0:i1:a.jpg", "1", "A"),
        exact("p0:i2:b.jpg", "2", "C", deleted=True),
        exact("p0:i3:c.jpg", "3", "C", carved=True),
        exact("p0:i4:d.jpg", "3", "C"),  # a live copy of item 3
        case_id="H",
    )
    row = rank([facts], {"H": Case("H", "lives-with", "high")}, CAL)[0]
    assert row.reason == (
        "3 known images (1 category A, 2 category C), 1 only in deleted space; "
        "suspect lives with children; case risk high"
    )
    text = "\n".join(explain(row))
    assert "priority" in text and "caid#1" in text and "deleted/carved only" in text


def test_calibration_is_monotone_and_interpolates() -> None:
    cal = Calibration({"pdq": [(0, 1.0), (10, 0.5), (20, 0.6), (30, 0.0)]})
    assert cal.probability("pdq", 5) == pytest.approx(0.75)
    assert cal.probability("pdq", 20) == pytest.approx(0.5)  # never rises
    assert cal.probability("pdq", 999) == 0.0
    assert cal.probability("md5", 0) == EXACT_PROBABILITY
    with pytest.raises(UsageError, match="no calibration for algorithm 'wavelet'"):
        cal.probability("wavelet", 3)


@pytest.mark.parametrize(
    "body",
    [
        {"algorithms": {"pdq": [[0, 0.9], [40, 0.1]]}},
        {"pdq": {"points": [{"distance": 0, "p": 0.9}, {"distance": 40, "p": 0.1}]}},
        {"pdq": {"0": 0.9, "40": 0.1}},
    ],
)
def test_calibration_file_shapes(tmp_path: Path, body: dict) -> None:  # type: ignore[type-arg]
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(body))
    cal = load_calibration(path)
    assert cal.probability("pdq", 20) == pytest.approx(0.5)
    assert cal.probability("phash", 0) == BUILTIN_CALIBRATION["phash"][0][1]


def test_default_calibration_loads() -> None:
    cal = load_calibration()
    for name in ("pdq", "phash"):
        ps = [cal.probability(name, d) for d in range(0, 257)]
        assert all(a >= b for a, b in itertools.pairwise(ps))


@pytest.mark.parametrize("which", ["built-in", "shipped"])
def test_worked_example(which: str) -> None:
    """The numbers in docs/queue.md's worked example, with the built-in and
    with the shipped calibration."""
    cal = CAL if which == "built-in" else load_calibration()
    d1 = DeviceFacts("PHONE-01", "OP-7", "scanned", media_count=1200, matches=(
        exact("p1:i10:DCIM/IMG_0001.jpg", "1001"),
        DeviceMatch("p1:i11:DCIM/copy.jpg", "caid", "1001", "sha1", 0, "A", "caid"),
        DeviceMatch("p1:i12:Pictures/x.jpg", "caid", "2002", "pdq", 21, "C", "caid",
                    deleted=True),
        DeviceMatch("p1:carve@5242880", "caid", "3003", "pdq", 40, "B", "caid",
                    carved=True),
        DeviceMatch("p1:i13:logo.png", "nsrl", "n77", "sha1", 0, None, "nsrl",
                    known_good=True),
    ))  # fmt: skip
    d2 = DeviceFacts("LAPTOP-02", "OP-9", "scanned", media_count=5000, matches=(
        exact("p2:i50:a.jpg", "1001"), exact("p2:i51:b.jpg", "1002"),
    ))  # fmt: skip
    d3 = DeviceFacts("USB-03", "OP-7", "failed", failure="EWF segment 2 missing")
    d4 = DeviceFacts("TABLET-04", "OP-9", "scanned", media_count=800)
    cases = {
        "OP-7": Case("OP-7", "lives-with", "high"),
        "OP-9": Case("OP-9", "none", "medium"),
    }
    rows = rank([d4, d3, d2, d1], cases, cal)
    assert order(rows) == ["PHONE-01", "LAPTOP-02", "USB-03", "TABLET-04"]
    phone, laptop = rows[0], rows[1]
    assert [round(i.probability, 3) for i in phone.score.items] == [0.999, 0.8, 0.2]
    assert round(phone.score.likelihood, 4) == 0.9998
    assert round(phone.score.severity, 4) == 0.9990
    assert round(phone.score.volume, 4) == 0.1590
    assert round(phone.score.evidence, 4) == 0.8734
    assert round(phone.safeguarding, 2) == 0.90
    assert round(phone.priority, 4) == 2.4455
    assert round(laptop.priority, 4) == 1.2228
    assert phone.reason == (
        "2 known images (1 category A, 1 category C), 1 exact / 1 near-identical, "
        "1 only in deleted space; 1 possible near-match; suspect lives with "
        "children; case risk high"
    )
    assert [r.tier for r in rows] == [
        "known-material", "known-material", "needs-attention", "nothing-found",
    ]  # fmt: skip


def test_stopped_early() -> None:
    rows = rank(
        [
            device("fast", exact("p0:i1:x", "1"), status="stopped-early"),
            device("nothing", status="stopped-early"),
        ],
        CASES,
        CAL,
    )
    fast, nothing = rows
    assert fast.tier == "known-material" and fast.attention == ()
    assert "counts are a lower bound" in fast.reason
    assert nothing.tier == "needs-attention"
    assert "not all of the device was searched" in nothing.reason


def test_uncalibrated_or_too_distant_matches_are_listed_not_fatal() -> None:
    odd = DeviceMatch("p0:i1:x", "caid", "1", "wavelet", 3, "A", "caid")
    far = near("p0:i2:y", "2", 200)
    s = score_device(device("d", odd, far), CAL)
    assert not s.has_evidence
    assert any("no calibration for 'wavelet'" in text for text in s.ignored)
    assert any("too distant" in text for text in s.ignored)


def test_builtin_tables_follow_registered_thresholds() -> None:
    from triage.hashmatch.signals import SIGNALS

    for name, table in BUILTIN_CALIBRATION.items():
        threshold = SIGNALS.get(name).default_threshold
        assert CAL.probability(name, threshold) == pytest.approx(0.5)
        assert table[-1][1] == 0.0


def test_hash_conflict_needs_attention() -> None:
    conflict = "p0:i3:x.jpg: md5 agrees with caid#5, sha1 does not"
    rows = rank([device("d", conflicts=(conflict,))], CASES, CAL)
    assert rows[0].tier == "needs-attention"
    assert "1 hash conflict(s)" in rows[0].reason


def test_measured_calibration_only_lowers_p(tmp_path: Path) -> None:
    """benchmarks/calibrate.py's shape: ``p_copy`` indexed by distance."""
    flat = [1.0] + [0.99] * 90 + [0.02] * 166  # saw no unrelated pair below 91
    path = tmp_path / "cal.json"
    body = {"about": "x", "version": 1, "algorithms": {"pdq": {"p_copy": flat}}}
    path.write_text(json.dumps(body))
    cal = load_calibration(path)
    assert "min(measured, built-in)" in cal.source
    assert cal.probability("pdq", 31) == pytest.approx(0.5)  # the prior caps it
    assert cal.probability("pdq", 95) == 0.0
    low = [1.0] + [0.3] * 256
    path.write_text(json.dumps({"algorithms": {"pdq": {"p_copy": low}}}))
    assert load_calibration(path).probability("pdq", 5) == pytest.approx(0.3)


def test_shipped_calibration_file_is_read() -> None:
    from importlib import resources

    if not resources.files("triage.hashmatch").joinpath("calibration.json").is_file():
        pytest.skip("triage/hashmatch/calibration.json not present")
    cal = load_calibration()
    assert cal.source.startswith("triage/hashmatch/calibration.json (")
    assert "no tables found" not in cal.source
    assert cal.probability("pdq", 0) > 0.9 and cal.probability("pdq", 128) < 0.01
