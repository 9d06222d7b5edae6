"""One registry class for every kind of plug-in.

Containers, volume systems, filesystems, expanders, media signatures, carvers,
signals (hash algorithms), decoders, hash-set formats and exporters each keep
one ``Registry``. A plug-in registers itself from its own module, so adding one
is a new file plus one registration line, never an edit to an ``if`` chain.
Standard library only: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from triage.errors import UnknownNameError

T = TypeVar("T")


def _name_of(item: object) -> str:
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{item!r} has no 'name': give one to register()")
    return name


class Registry(Generic[T]):
    """A named table of plug-ins of one kind, in registration order.

    ``kind`` is what the table holds, in words ("filesystem", "hash-set
    format"): it names the table in errors.
    """

    def __init__(self, kind: str, *, key: Callable[[T], str] = _name_of) -> None:
        self.kind = kind
        self._key = key
        self._items: dict[str, T] = {}

    def register(self, item: T, *, name: str | None = None) -> T:
        """Add ``item`` under ``name`` (default: its ``name`` attribute).

        Returns the item, so a registration can be a decorator.

        Raises:
            ValueError: the name is taken already.
        """
        key = name if name is not None else self._key(item)
        if key in self._items:
            raise ValueError(f"{self.kind} {key!r} is already registered")
        self._items[key] = item
        return item

    def get(self, name: str) -> T:
        """The plug-in registered as ``name``.

        Raises:
            UnknownNameError: no such name; the message lists the known ones.
        """
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def values(self) -> tuple[T, ...]:
        return tuple(self._items.values())

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
