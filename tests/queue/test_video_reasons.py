"""What the queue says of videos: a known video by its frame shares, a known
picture shown in a video by when; the explanation carries both."""

from __future__ import annotations

from triage.queue.explain import explain
from triage.queue.rank import clock, rank
from triage.queue.score import DeviceFacts, DeviceMatch


def _facts() -> DeviceFacts:
    return DeviceFacts(
        "phone",
        status="scanned",
        media_count=3,
        matches=(
            DeviceMatch(
                address="a", set_name="ref", entry_id="v1", algorithm="vpdq",
                distance=8, category="A", scheme="caid", path="DCIM/x.mp4",
                item_share=90.0, known_share=84.0, video=True,
            ),
            DeviceMatch(
                address="b", set_name="ref", entry_id="p1", algorithm="pdq",
                distance=4, category="B", scheme="caid", path="Movies/y.mp4",
                at_seconds=83.4, video=True,
            ),
        ),
    )  # fmt: skip


def test_clock_is_hours_minutes_seconds() -> None:
    assert clock(0) == "00:00:00"
    assert clock(83.9) == "00:01:23"
    assert clock(3 * 3600 + 61) == "03:01:01"


def test_reason_names_the_known_video_and_when_a_known_image_is_shown() -> None:
    (row,) = rank([_facts()], {})
    assert row.reason.startswith(
        "1 known image and 1 known video (1 category A, 1 category B)"
    )
    assert "1 known video (category A) re-encoded, 84% of its frames" in row.reason
    assert "known image shown in a video at 00:01:23" in row.reason


def test_a_clip_and_footage_around_it_are_told_apart() -> None:
    facts = _facts()
    clip = facts.matches[0]
    for item, known, words in ((100.0, 40.0, "a clip of it, 40%"),
                               (25.0, 40.0, "inside longer footage, 40%")):  # fmt: skip
        changed = DeviceFacts(
            "phone",
            status="scanned",
            matches=(
                DeviceMatch(
                    **{**_fields(clip), "item_share": item, "known_share": known}
                ),  # fmt: skip
            ),
        )
        (row,) = rank([changed], {})
        assert words in row.reason


def _fields(m: DeviceMatch) -> dict[str, object]:
    return {name: getattr(m, name) for name in DeviceMatch.__slots__}


def test_explain_carries_the_shares_and_the_time() -> None:
    (row,) = rank([_facts()], {})
    text = "\n".join(explain(row))
    assert "video: 90% of the file's frames, 84% of the known video's" in text
    assert "shown in a video at 00:01:23" in text


def test_known_pictures_shown_at_other_moments_of_a_video_count_apart() -> None:
    """A slideshow showing two known pictures (at 3 s and 10 s) is two known
    items; two set entries matching the same moment (near copies of one
    picture) are one, as two entries matching one picture file are."""

    def shown(entry: str, at: float) -> DeviceMatch:
        return DeviceMatch(
            address="s", set_name="ref", entry_id=entry, algorithm="pdq",
            distance=4, category="B", scheme="caid", path="Movies/slides.mp4",
            at_seconds=at, video=True,
        )  # fmt: skip

    facts = DeviceFacts(
        "phone",
        status="scanned",
        matches=(shown("p1", 3.0), shown("p2", 10.0), shown("p3", 10.0)),
    )
    (row,) = rank([facts], {})
    assert row.reason.startswith("2 known images")
    # a near copy in the set first matching a sampled frame a second later
    near = DeviceFacts(
        "phone", status="scanned", matches=(shown("p1", 3.0), shown("p2", 4.0))
    )
    (row,) = rank([near], {})
    assert row.reason.startswith("1 known image")
