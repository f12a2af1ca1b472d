"""`qa eval`: run question sets, print the figures, write reports, and gate on them."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from eval import metrics, report
from eval.harness import LocalTarget, RemoteTarget, Run, Target, run_set
from eval.sets import QuestionSet, SetError, as_typed, load
from qa.errors import QAError
from qa.progress import progress
from qa.settings import Settings

SETS_DIR = Path(__file__).parent / "sets"
# What `qa eval` asks by default: the questions about seeds/, which `make run` indexes. The other
# sets need their corpus (bbc.jsonl: --corpus ../shared/data/bbc-news).
DEFAULT_SETS = (SETS_DIR / "seed.jsonl",)
GATES = {
    "min_accuracy": ("accuracy", "accuracy"),
    "min_evidence_rate": ("evidence_rate", "evidence cited"),
    "min_abstention_accuracy": ("abstention_accuracy", "abstention accuracy"),
    "min_hit5": ("hit@5", "hit@5"),
    "min_support_recall": ("support_recall@10", "both supports in top 10"),
}


@click.command()
@click.argument("sets", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="Evaluate a running deployment instead of this process.")
@click.option("--api-key", envvar="QA_EVAL_API_KEY", help="Bearer key for --url.")
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Build a temporary index of these files/folders (repeatable).",
)
@click.option("--sample", type=click.IntRange(1), help="Ask this many questions of each set.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@click.option(
    "--holdout",
    type=click.FloatRange(0, 0.9),
    default=0.0,
    help="SQuAD: keep this share of paragraphs out of the index; their questions "
    "become near-miss unanswerables.",
)
@click.option(
    "--as-typed",
    "typed",
    is_flag=True,
    help="Ask every question as people type them: lower case, without its question mark.",
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "dense", "lexical"]),
    default="hybrid",
    show_default=True,
    help="Retrieval.",
)
@click.option("--compare", help="Several retrieval modes side by side, e.g. hybrid,dense,lexical.")
@click.option(
    "--answer-with",
    help="The modes whose answers are measured (default: every mode); the others measure "
    "retrieval alone, which is much faster. 'none': retrieval only.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Find the abstention threshold with the best accuracy on these sets.",
)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write every figure.")
@click.option("--html", "html_path", type=click.Path(path_type=Path), help="Write a report.")
@click.option("--min-accuracy", type=float, help="Fail below this accuracy.")
@click.option("--min-evidence-rate", type=float, help="Fail below this cited-evidence rate.")
@click.option("--min-abstention-accuracy", type=float, help="Fail below this on unanswerables.")
@click.option("--min-hit5", type=float, help="Fail below this retrieval hit@5.")
@click.option("--min-support-recall", type=float, help="Fail below this HotpotQA recall.")
@click.pass_obj
def eval_command(
    settings: Settings,
    sets: tuple[Path, ...],
    url: str | None,
    api_key: str | None,
    corpus: tuple[Path, ...],
    sample: int | None,
    seed: int,
    holdout: float,
    typed: bool,
    mode: str,
    compare: str | None,
    answer_with: str | None,
    calibrate: bool,
    json_path: Path | None,
    html_path: Path | None,
    **gates: float | None,
) -> None:
    """Measure answer quality on question sets (default: eval/sets/seed.jsonl)."""
    console = Console(stderr=False, highlight=False)
    paths = list(sets) or list(DEFAULT_SETS)
    modes = [m.strip() for m in compare.split(",")] if compare else [mode]
    bad = [m for m in modes if m not in ("hybrid", "dense", "lexical")]
    if bad:
        raise click.BadParameter(f"unknown mode {bad[0]!r}", param_hint="--compare")
    answered = set(modes)
    if answer_with is not None:
        answered = {m.strip() for m in answer_with.split(",")} - {"none"}
        if answered - set(modes):
            raise click.BadParameter(
                f"{sorted(answered - set(modes))[0]!r} is not a mode of this run",
                param_hint="--answer-with",
            )
    if url and answered != set(modes):
        raise click.UsageError("--answer-with works in-process: a deployment gives no rankings")
    if url and (calibrate or corpus):
        raise click.UsageError("--calibrate and --corpus work in-process, not with --url")
    try:
        qsets = [load(p, sample, seed, holdout) for p in paths]
        if typed:
            qsets = [as_typed(q) for q in qsets]
    except SetError as exc:
        raise click.ClickException(str(exc)) from exc
    runs: list[Run] = []
    calibration = None
    try:
        with ExitStack() as shared:
            # Sets asked of the --corpus index share one build of it; a set that brings its
            # own articles (SQuAD, HotpotQA) gets its own index, closed after it.
            corpus_target: Target | None = None
            for qset in qsets:
                with ExitStack() as own:
                    if corpus and not qset.articles and not url:
                        if corpus_target is None:
                            corpus_target = shared.enter_context(
                                _target(settings, qset, corpus, url, api_key, calibrate, console)
                            )
                        target = corpus_target
                    else:
                        target = own.enter_context(
                            _target(settings, qset, corpus, url, api_key, calibrate, console)
                        )
                    for m in modes:
                        name = f"{qset.name} [{m}]" if len(modes) > 1 else qset.name
                        with progress(
                            len(qset.questions), f"asking {name}", "question", leave=False
                        ) as tick:
                            runs.append(run_set(qset, target, m, name, tick, m in answered))
    except QAError as exc:
        raise click.ClickException(str(exc)) from exc
    if calibrate:
        calibration = _calibration(runs, settings)
    report.print_terminal(runs, console, calibration)
    if json_path:
        report.write_json(json_path, runs, calibration)
        console.print(f"wrote {json_path}")
    if html_path:
        report.write_html(html_path, runs, calibration)
        console.print(f"wrote {html_path}")
    failed = gate_failures(runs, gates)
    for line in failed:
        console.print(f"[red]gate failed:[/] {line}")
    if failed:
        sys.exit(1)


def gate_failures(runs: list[Run], gates: dict[str, float | None]) -> list[str]:
    """Which bars a run falls below; quotes that do not match their article always fail."""
    out = []
    for run in runs:
        summary = run.summary
        if summary["quote_mismatches"]:
            out.append(
                f"{run.name}: {summary['quote_mismatches']} quotes do not match their article text"
            )
        for option, (key, label) in GATES.items():
            bar = gates.get(option)
            value = summary.get(key)
            if bar is not None and (value is None or value < bar):
                out.append(f"{run.name}: {label} {value} < {bar}")
    return out


def _calibration(runs: list[Run], settings: Settings) -> dict[str, Any]:
    from qa.answer.model import load_model

    results = [r for run in runs for r in run.results if r.asked]
    threshold, accuracy, curve = metrics.best_threshold(
        [r.confidence for r in results],
        [r.would_be_right for r in results],
        [r.answerable for r in results],
    )
    current = (
        settings.abstain_threshold
        if settings.abstain_threshold is not None
        else load_model().threshold
    )
    current_accuracy = dict(curve).get(round(current, 2), 0.0)
    return {
        "threshold": threshold,
        "accuracy": accuracy,
        "curve": curve,
        "current_threshold": current,
        "current_accuracy": current_accuracy,
        "questions": len(results),
    }


@contextmanager
def _target(
    settings: Settings,
    qset: QuestionSet,
    corpus: tuple[Path, ...],
    url: str | None,
    api_key: str | None,
    calibrate: bool,
    console: Console,
) -> Iterator[Target]:
    """The deployment at --url, else a Service: on a temporary index when the set brings its own
    articles or --corpus is given, on the configured index otherwise."""
    if url:
        yield RemoteTarget(url, api_key)
        return
    from qa.answer.extractive import ExtractiveAnswerer
    from qa.service import Service

    with ExitStack() as stack:
        if qset.articles or corpus:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-eval-"))
            settings = settings.model_copy(update={"data_dir": Path(tmp), "chroma_url": None})
        # --calibrate sees every would-be answer: an answerer that never abstains.
        answerer = ExtractiveAnswerer(threshold=0.0) if calibrate else None
        service = stack.enter_context(Service(settings, answerer=answerer))
        if qset.articles:
            with progress(
                len(qset.articles), f"indexing {qset.name}", "article", leave=False
            ) as tick:
                for i in range(0, len(qset.articles), 256):
                    service.add_articles(qset.articles[i : i + 256])
                    tick(len(qset.articles[i : i + 256]))
        if corpus:
            with progress(
                service.ingester.estimate(corpus), "indexing --corpus", "article", leave=False
            ) as tick:
                got = service.ingest(corpus, progress=tick)
            for failure in got.failures:
                console.print(f"[yellow]not indexed:[/] {failure.where}: {failure.reason}")
        yield LocalTarget(service)
