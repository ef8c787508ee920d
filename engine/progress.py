"""Progress callbacks of long library functions (cycle run, replay, simulate, notices issue, lists serve/advance,
imports), and the cyclic garbage collector paused during their bulk work (:func:`collector_paused`).

Such a function takes ``progress``: a callable ``progress(n)`` called as n more units of work are done (entities,
notices, entries, rows). When it knows how many there are, it says so with ``announce(progress, total)``, which
calls ``progress.set_total(total)`` if the callback has that method (the CLI's bar has) and does nothing for a
plain function.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

Progress = Callable[[int], None]


def announce(progress: Progress | None, total: int | None) -> None:
    """Tell ``progress`` the amount of work to expect (ignored by callbacks without ``set_total``)."""
    setter = getattr(progress, "set_total", None)
    if setter is not None and total is not None:
        setter(total)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bulk work, restored afterwards (nested pauses keep it paused):
    bulk work allocates millions of objects without cycles (rows, tuples, contexts), and the collector's repeated
    full passes over the live ones cost up to a third of the run (a million-candidate draw; serving and advancing
    list entries a fifth). The few cycles made meanwhile are collected once it runs again."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
