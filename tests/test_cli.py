"""The `qa` command through click's CliRunner: exit codes and exact output."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import cli

from .conftest import FIXTURES, ROOT, SEEDS


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_ingest_articles_ask(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.txt").write_bytes(b"")
    result = run("ingest", str(SEEDS), str(FIXTURES), str(tmp_path / "bad.txt"), "--json")
    assert result.exit_code == 1  # something failed
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts == {**counts, "added": 6, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    assert f"failed: {tmp_path / 'bad.txt'}: empty file" in result.stderr
    # Piped, progress is plain lines: where the work starts and what it came to.
    shown = result.stderr.splitlines()
    assert re.fullmatch(r"indexing: 0 of \d+ articles", shown[0])
    assert any(re.fullmatch(r"indexing: 7 articles in \d+\.\d s", line) for line in shown)

    again = run("ingest", str(SEEDS), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 1

    listed = run("articles")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[-1] == (
        "volcano-alert-raised\tAlert raised at Mount Tessaly volcano\tIsland Radio\t1 chunks"
    )

    answer = run("ask", "Who denied awareness of the airstrikes?", "--json")
    body = json.loads(answer.stdout)
    assert "Mark Toner" in body["short_answer"] and body["answered"] is True
    assert set(body) == {
        "question",
        "standalone_question",
        "answer",
        "short_answer",
        "answered",
        "confidence",
        "citations",
        "timings_ms",
        "answerer",
        "date_range",
    }
    assert body["answerer"] == "extractive" and body["date_range"] is None
    assert set(body["citations"][0]) == {
        "n",
        "article_id",
        "title",
        "chunk_id",
        "start",
        "end",
        "quote",
        "date",
        "days",
        "also_in",
    }

    readable = run(
        "ask",
        "What did he say about pinpoint accuracy?",
        "--after",
        "Who denied awareness of the airstrikes?",
    )
    lines = readable.stdout.splitlines()
    assert lines[0] == "(understood as: What did Mark Toner say about pinpoint accuracy?)"
    assert "Sources:" in lines and any(line.startswith("  [1] US says civilian") for line in lines)

    assert run("remove", "chess-final").stdout == "removed chess-final\n"
    missing = run("remove", "chess-final")
    assert missing.exit_code == 1 and "no article with id 'chess-final'" in missing.stderr


def test_ask_without_an_index_is_a_clear_message(run) -> None:  # type: ignore[no-untyped-def]
    result = run("ask", "Anything?")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no articles are indexed yet; add some with `qa ingest PATH` or POST /v1/articles\n"
    )


def test_eval_seed_set_passes_its_gate_and_writes_reports(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out_json, out_html = tmp_path / "seed.json", tmp_path / "seed.html"
    result = run(
        "eval",
        str(ROOT / "eval" / "sets" / "seed.jsonl"),
        "--corpus",
        str(SEEDS),
        "--min-accuracy",
        "0.85",
        "--min-evidence-rate",
        "0.95",
        "--json",
        str(out_json),
        "--html",
        str(out_html),
    )
    assert result.exit_code == 0, result.stdout
    assert re.search(r"^asking seed: 0 of \d+ questions$", result.stderr, re.M)
    summary = json.loads(out_json.read_text())["runs"][0]["summary"]
    # Under the level measured when the gate was set (0.883 of 77 questions, 2026-12-01); the
    # goal (every question right) is not met: the answerer answers some near misses.
    assert summary["accuracy"] >= 0.85 and summary["quote_mismatches"] == 0
    assert summary["questions"] >= 60
    assert set(summary["accuracy_by_kind"]) == {"answerable", "unanswerable", "follow-up"}
    html = out_html.read_text()
    assert html.count("data:image/png;base64,") >= 3 and "<script" not in html


def test_eval_gate_fails_when_it_should(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    qset = tmp_path / "wrong.jsonl"
    qset.write_text(
        json.dumps(
            {
                "id": "w1",
                "question": "Who denied awareness of the airstrikes?",
                "accept": ["Somebody Else"],
                "answerable": True,
            }
        )
        + "\n"
    )
    result = run("eval", str(qset), "--corpus", str(SEEDS), "--min-accuracy", "0.5")
    assert result.exit_code == 1
    assert "gate failed: wrong: accuracy 0.0 < 0.5" in result.stdout
    assert "expected: Somebody Else" in result.stdout


def test_eval_measures_retrieval_alone_for_the_modes_not_answered(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--answer-with` answers with the modes it names; the other modes of `--compare` only rank
    each question's gold article, which is all a retrieval comparison needs."""
    topics = [
        (
            "Lighthouses",
            "The Hook lighthouse in Wexford has guided ships for eight centuries.",
            "Which lighthouse has guided ships for eight centuries?",
            "The Hook lighthouse",
        ),
        (
            "Glaciers",
            "The Aletsch glacier is the largest glacier in the Alps, about 23 kilometres long.",
            "How long is the Aletsch glacier?",
            "about 23 kilometres",
        ),
        (
            "Bridges",
            "The Charles Bridge in Prague was begun in 1357 under King Charles IV.",
            "When was the Charles Bridge begun?",
            "1357",
        ),
    ]
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": text,
                    "qas": [
                        {
                            "id": f"q{n}",
                            "question": question,
                            "answers": [{"text": answer, "answer_start": text.index(answer)}],
                        }
                    ],
                }
            ],
        }
        for n, (title, text, question, answer) in enumerate(topics)
    ]
    squad = tmp_path / "tiny-squad.json"
    squad.write_text(json.dumps({"version": "1.1", "data": data}))
    out = tmp_path / "runs.json"
    result = run(
        "eval",
        str(squad),
        "--compare",
        "hybrid,dense",
        "--answer-with",
        "hybrid",
        "--json",
        str(out),
    )
    assert result.exit_code == 0, result.stdout
    answered, ranked = json.loads(out.read_text())["runs"]
    assert answered["name"].endswith("[hybrid]") and ranked["name"].endswith("[dense]")
    assert all(r["asked"] for r in answered["results"])
    assert answered["summary"]["answer_accuracy"] == 1.0
    assert not any(r["asked"] for r in ranked["results"])
    assert ranked["summary"]["hit@1"] == 1.0 and ranked["summary"]["questions"] == 3
    assert ranked["summary"]["accuracy"] is None and ranked["summary"]["accuracy_by_kind"] == {}
    wrong = run("eval", str(squad), "--compare", "hybrid,dense", "--answer-with", "lexical")
    assert wrong.exit_code == 2 and "'lexical' is not a mode of this run" in wrong.output
    # A set with no gold articles has nothing to rank: nothing is scored, a follow-up included.
    qset = tmp_path / "plain.jsonl"
    lines = [
        {"id": "p1", "question": "Who denied awareness of the airstrikes?", "accept": ["Toner"]},
        {"id": "p2", "question": "When?", "accept": ["Tuesday"], "history": ["Who denied it?"]},
    ]
    qset.write_text("".join(json.dumps({**line, "answerable": True}) + "\n" for line in lines))
    plain = tmp_path / "plain.json"
    done = run(
        *("eval", str(qset), "--corpus", str(SEEDS), "--answer-with", "none", "--json", str(plain))
    )
    assert done.exit_code == 0, done.stdout
    (only,) = json.loads(plain.read_text())["runs"]
    assert not any(r["asked"] for r in only["results"]) and only["summary"]["accuracy"] is None
    assert "hit@1" not in only["summary"] and only["summary"]["questions"] == 2
    typed = tmp_path / "typed.json"
    args = ("eval", str(qset), "--corpus", str(SEEDS), "--answer-with", "none", "--as-typed")
    assert run(*args, "--json", str(typed)).exit_code == 0
    (run_typed,) = json.loads(typed.read_text())["runs"]
    assert run_typed["name"] == "plain (as typed)"
    asked = [r["question"] for r in run_typed["results"]]
    assert asked == ["who denied awareness of the airstrikes", "when"]


def test_qa_threads_sets_the_torch_threads_of_the_process(tmp_path: Path) -> None:
    """QA_THREADS reaches torch when a Service starts; 0 leaves torch's default."""
    import subprocess
    import sys

    script = (
        "import torch; from qa.service import Service; from qa.settings import Settings; "
        "Service(Settings(_env_file=None)).close(); print(torch.get_num_threads())"
    )
    counts = []
    for threads in ("1", "0"):
        env = {**os.environ, "QA_DATA_DIR": str(tmp_path / threads), "QA_THREADS": threads}
        env.pop("OMP_NUM_THREADS", None)
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        counts.append(int(done.stdout.split()[-1]))
    bare = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert counts == [1, int(bare.stdout)]


def test_an_ask_splits_no_text_and_imports_no_nltk(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A process that only asks reads the sentence offsets stored at ingest: it never imports
    NLTK (half a second of a cold `qa ask`) and still answers, citing the passage. Its models
    load without transformers or sentence-transformers either (two seconds more)."""
    import subprocess
    import sys

    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data")}
    assert run("ingest", str(SEEDS)).exit_code == 0
    script = (
        "import json, sys; from qa.service import Service; from qa.settings import Settings\n"
        "with Service(Settings(_env_file=None)) as s:\n"
        "    a = s.ask('Who denied awareness of the airstrikes?')\n"
        "heavy = ('nltk', 'transformers', 'sentence_transformers')\n"
        "print(json.dumps([a.answered, a.short_answer, [m for m in heavy if m in sys.modules]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    answered, short, loaded = json.loads(done.stdout.splitlines()[-1])
    assert answered and short == "Mark Toner" and loaded == []


def test_an_ingest_imports_neither_transformers_nor_sentence_transformers(tmp_path: Path) -> None:
    """`qa ingest` with the packaged model reads its weights and word pieces straight from the
    folder: transformers' imports are about two seconds of each ingest process's start."""
    import subprocess
    import sys

    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data")}
    script = (
        "import json, sys; from pathlib import Path\n"
        "from qa.service import Service; from qa.settings import Settings\n"
        "with Service(Settings(_env_file=None)) as s:\n"
        f"    report = s.ingest([Path({str(SEEDS)!r})])\n"
        "    hits = s.search('Who denied awareness of the airstrikes?', 1, None, 'dense')\n"
        "loaded = [m for m in ('transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps([report.added, hits[0].chunk.text, loaded]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    added, best, loaded = json.loads(done.stdout.splitlines()[-1])
    assert added == 1 and "Toner" in best and loaded == []


def test_qa_ingest_runs_at_a_lower_cpu_priority(tmp_path: Path) -> None:
    """`qa ingest` lowers its priority by QA_INGEST_NICE (10 unless set), so a server on the
    same cores keeps answering."""
    import subprocess
    import sys

    script = (
        "import os, sys; from click.testing import CliRunner; from qa.cli import cli\n"
        "before = os.nice(0)\n"
        "done = CliRunner().invoke(cli, ['ingest', sys.argv[1]])\n"
        "assert done.exit_code == 0, done.output\n"
        "print(os.nice(0) - before)"
    )
    lowered = []
    for nice in (None, "3"):
        env = {k: v for k, v in os.environ.items() if k != "QA_INGEST_NICE"}
        env["QA_DATA_DIR"] = str(tmp_path / f"data-{nice}")
        if nice is not None:
            env["QA_INGEST_NICE"] = nice
        done = subprocess.run(
            [sys.executable, "-c", script, str(SEEDS)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        lowered.append(int(done.stdout.split()[-1]))
    start = os.nice(0)
    assert lowered == [min(10, 19 - start), min(3, 19 - start)]
