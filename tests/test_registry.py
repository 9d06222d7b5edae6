"""The one plug-in table class every kind of plug-in uses."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from triage.errors import UnknownNameError, UsageError
from triage.registry import Registry


@dataclass(frozen=True)
class Thing:
    name: str
    value: int = 0


def test_register_get_and_order() -> None:
    table: Registry[Thing] = Registry("thing")
    a = table.register(Thing("a", 1))
    table.register(Thing("b", 2))
    assert a == Thing("a", 1)
    assert table.get("b").value == 2
    assert table.names() == ("a", "b")
    assert list(table) == ["a", "b"]
    assert "a" in table and "z" not in table
    assert len(table) == 2
    assert [t.value for t in table.values()] == [1, 2]


def test_explicit_name_and_decorator() -> None:
    table: Registry[object] = Registry("opener")

    @table.register
    class Zip:
        name = "zip"

    table.register(len, name="length")
    assert table.get("zip") is Zip
    assert table.get("length") is len


def test_duplicate_is_refused() -> None:
    table: Registry[Thing] = Registry("thing")
    table.register(Thing("a"))
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        table.register(Thing("a", 5))
    assert table.get("a").value == 0


def test_unknown_name_lists_known_ones() -> None:
    table: Registry[Thing] = Registry("hash-set format")
    table.register(Thing("csv"))
    table.register(Thing("vics"))
    with pytest.raises(UnknownNameError) as info:
        table.get("xml")
    assert str(info.value) == "unknown hash-set format 'xml'; known: csv, vics"
    assert isinstance(info.value, UsageError)  # the CLI maps it to exit 2
    assert isinstance(info.value, LookupError)
    assert info.value.known == ("csv", "vics")


def test_nameless_item_needs_a_name() -> None:
    table: Registry[object] = Registry("thing")
    with pytest.raises(TypeError, match="has no 'name'"):
        table.register(object())
