"""Progress of long work (an ingest, an evaluation's questions) on standard error.

On a terminal it is tqdm's bar. Anywhere else (a log file, a pipe, a container's log, CI) a
bar's redraws would be noise, and no output at all for minutes looks like a hang, so it is a
plain line when the work starts, one every `every` seconds while it goes on, and one when it
ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

EVERY_S = 15.0  # seconds between two plain progress lines


@contextmanager
def progress(
    total: int,
    label: str,
    unit: str,
    *,
    leave: bool = True,
    every: float = EVERY_S,
    stream: TextIO | None = None,
) -> Iterator[Callable[[int], None]]:
    """A callable to report `n` more units done, of about `total` (an estimate may be passed
    and exceeded). `leave`: whether a terminal's bar stays once the work is done."""
    out = sys.stderr if stream is None else stream
    if out.isatty():
        from tqdm import tqdm

        with tqdm(
            total=total, desc=label, unit=unit, file=out, dynamic_ncols=True, leave=leave
        ) as bar:
            yield bar.update
        return
    plain = _Plain(total, label, unit, every, out)
    try:
        yield plain.update
    except BaseException:
        plain.close(stopped=True)
        raise
    plain.close()


class _Plain:
    """Progress as lines of text, at most one every `every` seconds between the first and the
    last."""

    def __init__(self, total: int, label: str, unit: str, every: float, out: TextIO) -> None:
        self._total = total
        self._label = label
        self._unit = unit
        self._every = every
        self._out = out
        self._done = 0
        self._start = self._last = time.monotonic()
        self._write(f"0 of {self._count(total)}")

    def update(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        elapsed = now - self._start
        line = f"{self._done} of {self._count(self._total)}"
        if 0 < self._done < self._total:
            left = elapsed * (self._total - self._done) / self._done
            percent = 100 * self._done // self._total
            line += f" ({percent}%), {elapsed:.0f} s, about {left:.0f} s left"
        else:
            line += f", {elapsed:.0f} s"
        self._write(line)

    def close(self, stopped: bool = False) -> None:
        elapsed = time.monotonic() - self._start
        if stopped:
            self._write(
                f"stopped after {self._done} of {self._count(self._total)}, {elapsed:.1f} s"
            )
        else:
            self._write(f"{self._count(self._done)} in {elapsed:.1f} s")

    def _count(self, n: int) -> str:
        return f"{n} {self._unit}{'' if n == 1 else 's'}"

    def _write(self, line: str) -> None:
        self._out.write(f"{self._label}: {line}\n")
        self._out.flush()
