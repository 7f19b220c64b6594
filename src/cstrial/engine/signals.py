"""SIGINT and SIGTERM during a run: stop cleanly, leaving the finished chunks for --resume.

Python turns SIGINT into KeyboardInterrupt but lets SIGTERM (what `kill`, systemd, a
batch scheduler or a container runtime send) end the process at once, with the
workers still running. While a run is under way both raise `RunInterrupted` in the
main thread instead: the run's cleanup then stops the workers (closing joblib's
generator terminates them), drops the uncommitted files and keeps the chunks.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from cstrial.errors import CstrialError

_NAMES: dict[int, str] = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class RunInterrupted(CstrialError):
    """The run was stopped by a signal; its finished chunks are kept for --resume."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # what a shell reports for a process a signal ended
        super().__init__(
            f"stopped by {_NAMES.get(signum, signal.Signals(signum).name)}: the workers were "
            "stopped and the finished chunks kept; run the same command with --resume to "
            "carry on (the output folder still holds its earlier run, if it had one)"
        )


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `RunInterrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # a second signal ends the process at once (the workers then see their parent gone)
        for sig in _NAMES:
            signal.signal(sig, signal.SIG_DFL)
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in _NAMES}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
