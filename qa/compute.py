"""How a process's models share its CPU cores between concurrent forward passes.

Every forward pass of the embedder and the readers runs inside `share()`. A pass that finds the
cores free and nobody waiting takes them all (a single ask runs its passes on every core); when
other passes run or wait, each takes one core, and no more passes run at once than there are
cores. So eight concurrent asks run two one-thread passes at a time on two cores, instead of
passes of two threads each that wait on each other at every layer, and a lone ask keeps its
speed.

The cores are QA_THREADS (`configure`), or the cores this process may run on when that is 0.
torch's thread count is a per-thread setting of OpenMP, so each pass sets it for the thread it
runs on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class Cores:
    """Hands out a process's cores to forward passes, in arrival order."""

    def __init__(self, cores: int = 0) -> None:
        self._turns = threading.Condition()
        self._cores = cores  # 0: all the cores, found on first use
        self._free = cores
        self._queue: list[object] = []

    def configure(self, cores: int) -> None:
        """Sets how many cores the passes share (0: all this process may use); passes running
        keep what they took."""
        with self._turns:
            if cores <= 0:
                cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
                cores = cores or os.cpu_count() or 1
            self._free += cores - self._cores
            self._cores = cores
            self._turns.notify_all()

    @property
    def cores(self) -> int:
        if self._cores == 0:
            self.configure(0)
        return self._cores

    @contextmanager
    def share(self) -> Iterator[int]:
        """Waits for a core, sets this thread's torch threads, and yields how many it took."""
        import torch

        cores = self.cores
        me = object()
        with self._turns:
            self._queue.append(me)
            while self._queue[0] is not me or self._free < 1:
                self._turns.wait()
            self._queue.pop(0)
            # Alone: every free core. Others waiting: one, so the next pass can start now.
            took = 1 if self._queue else max(1, min(self._free, cores))
            self._free -= took
            self._turns.notify_all()
        try:
            if torch.get_num_threads() != took:
                torch.set_num_threads(took)
            yield took
        finally:
            with self._turns:
                self._free += took
                self._turns.notify_all()

    def running(self) -> int:
        """Cores taken by passes now (for tests and diagnostics)."""
        with self._turns:
            return self._cores - self._free


CORES = Cores()


def share() -> AbstractContextManager[int]:
    """A forward pass's turn on the process's cores (see Cores.share)."""
    return CORES.share()
