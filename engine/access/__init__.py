"""Who may act: users, their authority (office) and role, the rules a write must pass, and the audit log.

* :mod:`engine.access.offices` — the authorities a user can belong to, read from the packs' ``authorities``.
* :mod:`engine.access.users` — users (argon2-hashed passwords), ``supervise init``'s admin, login.
* :mod:`engine.access.guard` — the rules: role, region and pack, and a decision date never later than today.

Every write a person makes goes to the audit log (:func:`engine.store.audit`) with the user, in the write's
transaction.
"""

from __future__ import annotations

from engine.errors import SupervisionError


class AccessRefused(SupervisionError):
    """A user may not do what was asked: the sentence names the rule and the user."""
