"""Stop signals: the first SIGTERM/SIGINT starts a graceful stop, a second one exits at once.

uvicorn's own handler stays in charge of the first signal (it stops accepting, drains the
open requests, then runs the lifespan's shutdown); this adds a hook that fires at that
moment and turns a repeated signal into an immediate exit. uvicorn itself only hurries on
a second SIGINT, and not at all once the lifespan's shutdown has begun.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Wraps the installed SIGTERM/SIGINT handlers for the lifetime of one app."""

    def __init__(self, on_first: Callable[[], object]) -> None:
        self.on_first = on_first
        self.received = 0
        self._previous: dict[int, Any] = {}

    def install(self) -> bool:
        """Wrap the current handlers; False where that cannot be done (not the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # no server handler to wrap: the default already ends the process
            self._previous[sig] = previous
            signal.signal(sig, self._handle)
        return bool(self._previous)

    def restore(self) -> None:
        """Put the wrapped handlers back."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the main thread: no logging here (its locks may be
        # held), only hand-offs; `on_first` should schedule its work on the event loop.
        self.received += 1
        if self.received > 1:
            name = signal.Signals(signum).name
            os.write(2, f'{{"event": "forced_exit", "signal": "{name}"}}\n'.encode())
            os._exit(128 + signum)
        try:
            self.on_first()
        finally:
            previous = self._previous.get(signum)
            if previous is not None:
                previous(signum, frame)
