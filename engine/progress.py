"""Progress callbacks of long library functions (cycle run, replay, simulate, notices issue, lists serve/advance,
imports).

Such a function takes ``progress``: a callable ``progress(n)`` called as n more units of work are done (entities,
notices, entries, rows). When it knows how many there are, it says so with ``announce(progress, total)``, which
calls ``progress.set_total(total)`` if the callback has that method (the CLI's bar has) and does nothing for a
plain function.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int], None]


def announce(progress: Progress | None, total: int | None) -> None:
    """Tell ``progress`` the amount of work to expect (ignored by callbacks without ``set_total``)."""
    setter = getattr(progress, "set_total", None)
    if setter is not None and total is not None:
        setter(total)
