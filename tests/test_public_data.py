"""Slow suites over the public data in ../shared/data: the figures the README reports, gated
at the levels measured so a regression fails CI. Run with `make test` (or `pytest -m slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cli import eval_command
from qa.cli import cli

from .conftest import ROOT, SEEDS, shared_data

pytestmark = pytest.mark.slow
cli.add_command(eval_command, "eval")

# Measured on 2026-11-29 (README): SQuAD answer accuracy 0.706, seed answerable 0.905 and
# evidence 0.917 with the BBC distractors, HotpotQA both-supports recall 0.846. The floors sit a
# little under them so a regression fails. They are not the goals (issue 3 asks for 0.80 and
# every seed question right); raise them as the answerer improves.
SQUAD_ANSWER_FLOOR = 0.68
SEED_ANSWERABLE_FLOOR = 0.88
SEED_EVIDENCE_FLOOR = 0.88
HOTPOT_SUPPORT_FLOOR = 0.82


def _eval(tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / "result.json"
    result = CliRunner().invoke(cli, ["eval", *args, "--json", str(out)], catch_exceptions=False)
    print(result.stdout)
    summaries = {r["name"]: r["summary"] for r in json.loads(out.read_text())["runs"]}
    return result.exit_code, summaries


def test_squad_open_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    squad = shared_data("squad-v1.1-dev.json")
    code, runs = _eval(
        tmp_path, str(squad), "--sample", "500", "--seed", "0", "--compare", "hybrid,dense,lexical"
    )
    hybrid, dense, lexical = (runs[f"squad-v1.1-dev [{m}]"] for m in ("hybrid", "dense", "lexical"))
    assert hybrid["hit@5"] >= 0.93
    assert hybrid["hit@5"] >= max(dense["hit@5"], lexical["hit@5"])  # fusion beats either side
    assert hybrid["answer_accuracy"] >= SQUAD_ANSWER_FLOOR
    assert hybrid["quote_mismatches"] == 0 and code == 0


def test_seed_set_with_bbc_distractors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bbc = shared_data("bbc-news")
    code, runs = _eval(
        tmp_path,
        str(ROOT / "eval" / "sets" / "seed.jsonl"),
        "--corpus",
        str(SEEDS),
        "--corpus",
        str(bbc),
    )
    seed = runs["seed"]
    assert seed["quote_mismatches"] == 0 and code == 0
    assert seed["accuracy_by_kind"]["answerable"] >= SEED_ANSWERABLE_FLOOR
    assert seed["evidence_rate"] >= SEED_EVIDENCE_FLOOR


def test_hotpotqa_supporting_paragraphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hotpot = shared_data("hotpotqa-dev-500.jsonl")
    code, runs = _eval(tmp_path, str(hotpot), "--compare", "hybrid,dense")
    hybrid, dense = runs["hotpotqa-dev-500 [hybrid]"], runs["hotpotqa-dev-500 [dense]"]
    assert hybrid["support_recall@10"] >= HOTPOT_SUPPORT_FLOOR
    assert hybrid["support_recall@10"] >= dense["support_recall@10"]
    assert code == 0
