"""Cases: what investigators know about each case (``cases`` table)."""

from __future__ import annotations

from triage.errors import StoreError
from triage.records import Case
from triage.store.connection import StoreBase, now
from triage.store.schema import ACCESS_TO_CHILDREN


class CasesMixin(StoreBase):
    """Create, update and list cases."""

    def ensure_case(self, case_id: str) -> None:
        """Create the case row if absent (access to children 'unknown')."""
        self._db.execute(
            "INSERT OR IGNORE INTO cases(case_id, updated_at) VALUES (?, ?)",
            (case_id, now()),
        )

    def set_case(self, case: Case) -> None:
        """Insert or update what investigators know about a case."""
        if case.access_to_children not in ACCESS_TO_CHILDREN:
            raise StoreError(
                f"case {case.case_id}: access_to_children "
                f"{case.access_to_children!r} is not one of "
                f"{', '.join(ACCESS_TO_CHILDREN)}"
            )
        self._db.execute(
            "INSERT INTO cases(case_id, access_to_children, risk_band, note, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
            "access_to_children = excluded.access_to_children, "
            "risk_band = excluded.risk_band, note = excluded.note, "
            "updated_at = excluded.updated_at",
            (
                case.case_id,
                case.access_to_children,
                case.risk_band,
                case.note,
                now(),
            ),
        )

    def cases(self) -> list[Case]:
        return [
            Case(r["case_id"], r["access_to_children"], r["risk_band"], r["note"])
            for r in self._db.execute("SELECT * FROM cases ORDER BY case_id")
        ]
