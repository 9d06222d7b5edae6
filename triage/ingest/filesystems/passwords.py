"""The passwords given for encrypted evidence (``--password``,
``--recovery-password``): encrypted APFS volumes, iTunes/Finder backups and
Android backups.

They travel in the environment, so that the scan's worker processes
(started after the CLI sets them) see them too; they are never written to
disk, the case database or a log.
"""

from __future__ import annotations

import os

PASSWORD_ENV, RECOVERY_ENV = "TRIAGE_PASSWORD", "TRIAGE_RECOVERY_PASSWORD"


def set_passwords(password: str | None, recovery: str | None) -> None:
    """Passwords to unlock encrypted evidence with, for this process and the
    worker processes it starts (kept in the environment, never on disk)."""
    for name, value in ((PASSWORD_ENV, password), (RECOVERY_ENV, recovery)):
        if value:
            os.environ[name] = value


def given_password() -> str | None:
    """The ``--password`` given (or ``TRIAGE_PASSWORD``), None if none."""
    return os.environ.get(PASSWORD_ENV) or None


def password_environ() -> dict[str, str]:
    """The password variables as this process has them, for worker processes
    that do not inherit its environment (forked from a forkserver started
    earlier): one not set here is set empty there (read as none given)."""
    return {k: os.environ.get(k, "") for k in (PASSWORD_ENV, RECOVERY_ENV)}
