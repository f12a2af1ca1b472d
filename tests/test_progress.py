"""Progress of long work: tqdm's bar on a terminal, plain lines in a log or a pipe."""

from __future__ import annotations

import io
import re

import pytest

from qa.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_progress_is_a_line_at_the_start_at_each_interval_and_at_the_end() -> None:
    out = io.StringIO()
    with progress(4, "indexing", "article", every=0.0, stream=out) as tick:
        for _ in range(3):
            tick(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "indexing: 0 of 4 articles"
    assert re.fullmatch(r"indexing: 1 of 4 articles \(25%\), \d+ s, about \d+ s left", lines[1])
    assert re.fullmatch(r"indexing: 3 of 4 articles \(75%\), \d+ s, about \d+ s left", lines[3])
    assert re.fullmatch(r"indexing: 3 articles in \d+\.\d s", lines[4]) and len(lines) == 5


def test_piped_progress_is_quiet_between_intervals_and_past_an_estimate() -> None:
    out = io.StringIO()
    with progress(1, "asking seed", "question", every=3600.0, stream=out) as tick:
        for _ in range(100):
            tick(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "asking seed: 0 of 1 question" and len(lines) == 2
    assert re.fullmatch(r"asking seed: 100 questions in \d+\.\d s", lines[1])


def test_piped_progress_says_where_failed_work_stopped() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), progress(5, "indexing", "article", stream=out) as tick:
        tick(2)
        raise RuntimeError("disk full")
    assert re.fullmatch(
        r"indexing: stopped after 2 of 5 articles, \d+\.\d s", out.getvalue().splitlines()[-1]
    )


def test_a_terminal_gets_a_bar_redrawn_in_place() -> None:
    out = Terminal()
    with progress(5, "indexing", "article", stream=out) as tick:
        for _ in range(5):
            tick(1)
    text = out.getvalue()
    assert "\r" in text and "5/5" in text and "article" in text and " of 5" not in text
