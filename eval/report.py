"""Eval output: a terminal table with the failures, a JSON file, a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from eval.harness import Run
from eval.metrics import reliability

ROWS = [
    ("questions", "questions"),
    ("accuracy", "accuracy"),
    ("answer_accuracy", "answer accuracy"),
    ("abstention_accuracy", "abstention accuracy"),
    ("false_abstention_rate", "false abstention rate"),
    ("held_out_answered_right", "held out, answered right from elsewhere"),
    ("evidence_rate", "evidence cited"),
    ("quote_mismatches", "quote mismatches"),
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("hit@10", "hit@10"),
    ("mrr", "MRR"),
    ("support_recall@10", "both supports in top 10"),
    ("exact_match", "short answer EM"),
    ("f1", "short answer F1"),
    ("ece", "calibration error (ECE)"),
    ("written_by_llm", "answers written by the LLM"),
    ("answers_with_invented_words", "answers with invented words"),
    ("latency_p50_ms", "latency p50 ms"),
    ("latency_p95_ms", "latency p95 ms"),
]


def print_terminal(
    runs: list[Run],
    console: Console,
    calibration: dict[str, Any] | None = None,
    max_failures: int = 15,
) -> None:
    """The summary table (one column per run), accuracy by kind, then each run's failures."""
    summaries = [r.summary for r in runs]
    table = Table(title="article-qa evaluation", show_lines=False)
    table.add_column("metric")
    for run in runs:
        table.add_column(run.name.replace(" [", "\n["), justify="right")
    for key, label in ROWS:
        if any(s.get(key) is not None for s in summaries):
            table.add_row(label, *[_fmt(s.get(key)) for s in summaries])
    kinds = sorted({k for s in summaries for k in s["accuracy_by_kind"]})
    for kind in kinds:
        table.add_row(
            f"accuracy: {kind}", *[_fmt(s["accuracy_by_kind"].get(kind)) for s in summaries]
        )
    console.print(table)
    if calibration:
        console.print(
            f"Abstention threshold with the best accuracy: "
            f"[bold]{calibration['threshold']:.2f}[/] (accuracy "
            f"{calibration['accuracy']:.3f}; the answerer now uses "
            f"{calibration['current_threshold']:.2f}, accuracy "
            f"{calibration['current_accuracy']:.3f})"
        )
    for run in runs:
        failed = [
            r
            for r in run.results
            if r.asked and (not r.correct or r.quote_mismatches or r.evidence_cited is False)
        ]
        if not failed:
            continue
        console.print(
            f"\n[bold]{run.name}[/]: {len(failed)} of {len(run.results)} not right"
            + (f" (first {max_failures})" if len(failed) > max_failures else "")
        )
        for r in failed[:max_failures]:
            console.print(f"  [red]✗[/] {r.id} ({r.kind}) {r.question}", highlight=False)
            if r.standalone_question != r.question:
                console.print(f"      understood as: {r.standalone_question}", highlight=False)
            expected = " | ".join(r.expected) if r.answerable else "(abstain)"
            console.print(f"      expected: {expected}", highlight=False)
            console.print(
                f"      got: {r.answer[:220]} (confidence {r.confidence:.2f})", highlight=False
            )


def write_json(path: Path, runs: list[Run], calibration: dict[str, Any] | None = None) -> None:
    payload = {"runs": [r.to_dict() for r in runs], "calibration": calibration}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))


def write_html(path: Path, runs: list[Run], calibration: dict[str, Any] | None = None) -> None:
    """One file with the tables and the plots inlined, to open anywhere offline."""
    import matplotlib

    matplotlib.use("Agg")
    figures = [
        ("Latency of each answer", _latency_plot(runs)),
        ("Accuracy by kind of question", _kind_plot(runs)),
        ("Reliability: confidence against the share right", _reliability_plot(runs)),
    ]
    if calibration:
        figures.append(("Accuracy by abstention threshold", _threshold_plot(calibration)))
    summaries = [r.summary for r in runs]
    head = "".join(f"<th>{html.escape(r.name)}</th>" for r in runs)
    rows = "".join(
        f"<tr><td>{label}</td>{''.join(f'<td>{_fmt(s.get(key))}</td>' for s in summaries)}</tr>"
        for key, label in ROWS
        if any(s.get(key) is not None for s in summaries)
    )
    failures = "".join(_failure_rows(run) for run in runs)
    images = "".join(
        f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, png in figures
    )
    path.write_text(f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>article-qa evaluation</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;
text-align:right}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;
margin:.5rem}}img{{max-width:520px}}.bad td{{text-align:left;vertical-align:top}}</style>
<h1>article-qa evaluation</h1><table><tr><th>metric</th>{head}</tr>{rows}</table>
{images}<h2>Questions not answered right</h2>
<table class="bad"><tr><th>run</th><th>question</th><th>expected</th><th>got</th></tr>{failures}
</table></html>""")


def _failure_rows(run: Run) -> str:
    out = []
    for r in run.results:
        if r.correct or not r.asked:
            continue
        expected = " | ".join(r.expected) if r.answerable else "(abstain)"
        out.append(
            f"<tr><td>{html.escape(run.name)}</td><td>{html.escape(r.question)}</td>"
            f"<td>{html.escape(expected)}</td><td>{html.escape(r.answer[:300])} "
            f"({r.confidence:.2f})</td></tr>"
        )
    return "".join(out[:200])


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _latency_plot(runs: list[Run]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        ax.hist([r.latency_ms for r in run.results], bins=30, alpha=0.5, label=run.name)
    ax.set_xlabel("milliseconds")
    ax.set_ylabel("questions")
    ax.legend(fontsize=7)
    return _png(fig)


def _kind_plot(runs: list[Run]) -> str:
    import matplotlib.pyplot as plt

    kinds = sorted({k for r in runs for k in r.summary["accuracy_by_kind"]})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        values = [run.summary["accuracy_by_kind"].get(k) or 0 for k in kinds]
        ax.bar([j + i * width for j in range(len(kinds))], values, width, label=run.name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(kinds))], kinds)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    return _png(fig)


def _reliability_plot(runs: list[Run]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        given = [r for r in run.results if r.answered]
        points = reliability([r.confidence for r in given], [r.correct for r in given])
        ece = run.summary.get("ece")
        label = run.name + (f" (ECE {ece:.3f})" if ece is not None else "")
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the answers given")
    ax.set_ylabel("share right")
    ax.legend(fontsize=7)
    return _png(fig)


def _threshold_plot(calibration: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p[0] for p in calibration["curve"]], [p[1] for p in calibration["curve"]])
    ax.axvline(calibration["threshold"], color="green", linestyle="--", label="best")
    ax.axvline(calibration["current_threshold"], color="#999", linestyle=":", label="in use")
    ax.set_xlabel("abstention threshold")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    return _png(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1.0 else f"{value:.1f}"
    return str(value)
