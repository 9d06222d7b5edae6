"""What every object holding an open resource (a device, an archive reading,
the case database) shares: it closes itself at the end of a ``with`` block.
Standard library only, so every layer may use it."""

from __future__ import annotations

from typing import Self


class Closing:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on the
    way out, whether or not the block raised."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
