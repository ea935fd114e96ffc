"""A progress bar for long management commands, written to the command's stdout.

On a terminal the bar is redrawn in place (``\\r``), at most ten times a second unless what it
says it is doing changed. Anywhere else (a pipe, a log file, cron, a test's StringIO) it writes a
plain line when it starts and each time another quarter is done, so logs stay readable and hold
no control characters. Disabled (at verbosity 0) it writes nothing. It may be updated from
several threads.
"""

import threading
import time
from collections.abc import Callable

from django.core.management.base import OutputWrapper


class ProgressBar:
    """``with ProgressBar(self.stdout, total=4, label="Loading") as bar: bar.update(1, detail="catalogue")``."""

    def __init__(
        self,
        out,
        *,
        total: int | None,
        label: str,
        detail: str = "",
        enabled: bool = True,
        width: int = 28,
        plain_step: int = 25,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.out = out
        self.total = total
        self.label = label
        self.enabled = enabled
        self.tty = enabled and _isatty(out)
        self.width = width
        self.plain_step = max(1, plain_step)
        self.min_interval = min_interval
        self.clock = clock
        self.done = 0.0
        self.detail = detail
        self.closed = False
        self._lock = threading.Lock()
        self._drawn_at: float | None = None
        self._drawn_detail = ""
        self._drawn_length = 0
        self._plain_bucket: int | None = None

    def __enter__(self) -> "ProgressBar":
        self.update(0)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return max(0, min(100, int(self.done * 100 // self.total)))

    def update(
        self, done: float, *, total: int | None = None, detail: str | None = None, forward_only: bool = False
    ) -> None:
        """Set how much is done (of ``total``, if it changed); ``detail`` says what is being done.

        ``forward_only`` ignores an update that would move the bar back (another thread got there first).
        """
        with self._lock:
            if self.closed or not self.enabled or (forward_only and done < self.done):
                return
            if total is not None:
                self.total = total
            self.done = max(0.0, done)
            if detail is not None:
                self.detail = detail
            self._show(final=False)

    def advance(self, step: float = 1, *, detail: str | None = None) -> None:
        self.update(self.done + step, detail=detail)

    def close(self, *, complete: bool = True, detail: str | None = None) -> None:
        """Finish the bar: full if ``complete``, else left where it stopped; a terminal gets its newline."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if not self.enabled:
                return
            if complete and self.total:
                self.done = max(self.done, self.total)
            if detail is not None:
                self.detail = detail
            self._show(final=True)
            if self.tty:
                self._write("\n")

    # --- drawing -------------------------------------------------------------------------------

    def _counts(self) -> str:
        done = int(self.done)
        return f"{done:,}/{self.total:,}" if self.total else f"{done:,}"

    def _show(self, *, final: bool) -> None:
        try:
            if self.tty:
                self._draw(final=final)
            else:
                self._print_line(final=final)
        except (OSError, ValueError):  # a closed or broken stdout must not stop the work it reports on
            self.enabled = False

    def _draw(self, *, final: bool) -> None:
        now = self.clock()
        recent = self._drawn_at is not None and now - self._drawn_at < self.min_interval
        if recent and not final and self.detail == self._drawn_detail:
            return  # a new step (a new detail) is always shown
        self._drawn_at, self._drawn_detail = now, self.detail
        percent = self.percent
        if percent is None:
            bar = f"[{'?' * self.width}]"
            figures = self._counts()
        else:
            filled = self.width * percent // 100
            bar = f"[{'#' * filled}{'-' * (self.width - filled)}]"
            figures = f"{percent:3d}% {self._counts()}"
        line = " ".join(part for part in (self.label, bar, figures, self.detail) if part)
        padding = " " * max(0, self._drawn_length - len(line))
        self._drawn_length = len(line)
        self._write(f"\r{line}{padding}")

    def _print_line(self, *, final: bool) -> None:
        percent = self.percent
        bucket = -1 if percent is None else percent // self.plain_step
        if self._plain_bucket is not None and bucket <= self._plain_bucket and not final:
            return
        if final and self._plain_bucket is not None and bucket <= self._plain_bucket and percent is not None:
            return  # that figure is already on the last line written
        self._plain_bucket = bucket
        figures = self._counts() if percent is None else f"{percent}% ({self._counts()})"
        self._write(f"{self.label}: {figures}{f' {self.detail}' if self.detail else ''}\n")

    def _write(self, text: str) -> None:
        if isinstance(self.out, OutputWrapper):
            self.out.write(text, ending="")
        else:
            self.out.write(text)
        flush = getattr(self.out, "flush", None)
        if flush:
            flush()


def _isatty(out) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, OSError, ValueError):  # no such method, or a closed stream
        return False
