"""Progress of long command-line work, on stderr so that stdout stays what scripts read.

At a terminal, a bar (click's) that names the step under way; elsewhere (a log file, CI, a pipe), one
plain line per step, or none where the command prints its own line per step on stdout already. Work
that cannot count its steps shows the time it has taken (:func:`run_with_progress`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

T = TypeVar("T")


class Steps:
    """``total`` steps of one piece of work, shown as they start and finish.

    ``lines``: when stderr is not a terminal, print a line as each step starts (off where the
    command's own output has a line per step already). ``say`` prints a line of the command's output
    (stdout) without tearing the bar: the bar is cleared, the line printed, the bar drawn again.
    """

    def __init__(self, total: int, label: str, *, lines: bool = True, file: IO[str] | None = None,
                 tty: bool | None = None) -> None:
        self.total, self.label, self.lines = total, label, lines
        self.file = file or sys.stderr
        self.tty = self.file.isatty() if tty is None else tty
        self.done = 0
        self.current = ""
        self._bar: Any = None
        if self.tty:
            self._bar = click.progressbar(length=max(total, 1), label=label, file=self.file, show_pos=True,
                                          show_percent=False, show_eta=True,
                                          item_show_func=lambda _item: self.current or None)
            self._bar.__enter__()

    def start(self, what: str) -> None:
        """Step ``what`` begins."""
        self.current = what
        if self._bar is not None:
            self._bar.render_progress()
        elif self.lines:
            click.echo(f"{self.label}: {self.done + 1}/{self.total} {what}", file=self.file)
            self.file.flush()

    def advance(self, steps: int = 1) -> None:
        """``steps`` more are finished."""
        self.done += steps
        if self._bar is not None:
            self._bar.update(steps)

    def say(self, line: str) -> None:
        """A line of the command's own output, above the bar."""
        if self._bar is not None:
            self.file.write("\r\033[K")
            self.file.flush()
        click.echo(line)
        sys.stdout.flush()
        if self._bar is not None:
            self._bar.render_progress()

    def close(self) -> None:
        if self._bar is not None:
            self.current = ""
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_with_progress(label: str, work: Callable[[], T], *, file: IO[str] | None = None, tty: bool | None = None,
                      every_s: float = 10.0) -> T:
    """``work()``'s result, with how long it has taken shown meanwhile, for work that cannot report steps
    of its own: at a terminal a line redrawn with the seconds elapsed; elsewhere ``label`` once, then a
    line every ``every_s`` seconds while it lasts. Ctrl-C is not held up by the work (it runs in a
    daemon thread this one waits on)."""
    out = file or sys.stderr
    at_terminal = out.isatty() if tty is None else tty
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name="paysync-progress-work")
    began = time.monotonic()
    worker.start()
    if not at_terminal:
        click.echo(f"{label} ...", file=out)
        out.flush()
    next_line = began + every_s
    while worker.is_alive():
        worker.join(0.2)
        now = time.monotonic()
        if at_terminal:
            out.write(f"\r\033[K{label} ... {now - began:.0f}s")
            out.flush()
        elif worker.is_alive() and now >= next_line:
            click.echo(f"{label}: still working ({now - began:.0f}s)", file=out)
            out.flush()
            next_line = now + every_s
    if at_terminal:
        out.write("\r\033[K")
        out.flush()
    if "error" in result:
        raise result["error"]
    return result["value"]
