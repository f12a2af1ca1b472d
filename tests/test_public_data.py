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

# Measured on 2026-11-29 (README): SQuAD answer accuracy 0.740 and short answer F1 0.582, seed
# answerable 0.976, unanswerable 0.643 and evidence 0.979 with the BBC distractors, HotpotQA
# both-supports recall 0.846. The floors sit a little under them so a regression fails. They
# are not the goals (issue 3 asks for 0.80 and every seed question right); raise them as the
# answerer improves.
SQUAD_ANSWER_FLOOR = 0.73
SQUAD_SHORT_F1_FLOOR = 0.55
SEED_ANSWERABLE_FLOOR = 0.95
SEED_UNANSWERABLE_FLOOR = 0.6
SEED_EVIDENCE_FLOOR = 0.95
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
    assert hybrid["f1"] >= SQUAD_SHORT_F1_FLOOR
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
    assert seed["accuracy_by_kind"]["unanswerable"] >= SEED_UNANSWERABLE_FLOOR
    assert seed["evidence_rate"] >= SEED_EVIDENCE_FLOOR


def test_hotpotqa_supporting_paragraphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hotpot = shared_data("hotpotqa-dev-500.jsonl")
    code, runs = _eval(tmp_path, str(hotpot), "--compare", "hybrid,dense")
    hybrid, dense = runs["hotpotqa-dev-500 [hybrid]"], runs["hotpotqa-dev-500 [dense]"]
    assert hybrid["support_recall@10"] >= HOTPOT_SUPPORT_FLOOR
    assert hybrid["support_recall@10"] >= dense["support_recall@10"]
    assert code == 0


def test_learned_parts_never_see_the_reported_sample() -> None:
    """The reader and the answerer learn from disjoint SQuAD paragraphs, neither from those of
    the 500 questions the README reports."""
    from eval.sets import load_squad, squad_training_split
    from eval.train.reader import groups

    squad = shared_data("squad-v1.1-dev.json")
    split = squad_training_split(squad)
    reported = load_squad(squad, sample=500, seed=0).questions
    assert {split[a] for q in reported for a in q.gold_articles} == {"test"}
    assert set(split) == {a.id for a in load_squad(squad).articles}
    assert {"reader", "answerer"} <= set(split.values())

    texts = {a.id: a.text for a in load_squad(squad).articles}
    unseen = " ".join(t for a, t in texts.items() if split[a] != "reader")
    train, _ = groups(squad)
    sentences = {c[0] for _, candidates, _ in train for c in candidates}
    assert len(sentences) > 4_000
    # A sentence may repeat word for word across paragraphs; a leak would be hundreds.
    assert sum(s in unseen for s in sentences) < 20
