"""A known item kept only by a thumbnail cache counts once, like any other,
and the reason line says what that means."""

from __future__ import annotations

from tests.queue.test_score_rank import CAL, device, exact
from triage.queue.explain import explain
from triage.queue.rank import rank
from triage.records import Case


def test_item_only_in_a_thumbnail_cache_is_named_in_the_reason() -> None:
    facts = device(
        "d",
        exact("p0:i9:Thumbs.db!entry 3 (a.jpg)", "1", "A", thumbnail_cache=True),
        exact("p0:i8:thumbcache_256.db!entry 7 (1a)", "1", "A", thumbnail_cache=True),
        exact("p0:i1:b.jpg", "2", "C"),
        exact("p0:i7:thumbcache_256.db!entry 9 (2b)", "2", "C", thumbnail_cache=True),
        case_id="H",
    )
    row = rank([facts], {"H": Case("H", "none", "low")}, CAL)[0]
    # Two copies of item 1 count once; item 2 has a file of its own.
    assert row.reason.startswith(
        "2 known images (1 category A, 1 category C), 1 known image only in a "
        "thumbnail cache (viewed on this device; original not found)"
    )
    assert "thumbnail cache only" in "\n".join(explain(row))


def test_no_thumbnail_words_without_a_cache_copy() -> None:
    facts = device("d", exact("p0:i1:a.jpg", "1", "A"), case_id="H")
    row = rank([facts], {"H": Case("H", "none", "low")}, CAL)[0]
    assert "thumbnail" not in row.reason


def test_item_only_inside_other_files_is_named_in_the_reason() -> None:
    """An EXIF thumbnail, a document's picture or a database BLOB is a copy
    like any other; when it is the only copy, the reason says where it is."""
    facts = device(
        "d",
        exact("p0:i4:DCIM/x.jpg!exif-thumbnail", "1", "A", embedded=True),
        exact("p0:i5:Docs/a.pdf!object 12", "1", "A", embedded=True),
        exact("p0:i1:b.jpg", "2", "C"),
        case_id="H",
    )
    row = rank([facts], {"H": Case("H", "none", "low")}, CAL)[0]
    assert row.reason.startswith(
        "2 known images (1 category A, 1 category C), 1 known image only inside "
        "other files (EXIF thumbnails, documents or databases; original not found)"
    )
    assert "in archives" not in row.reason
    assert "inside other files only" in "\n".join(explain(row))
