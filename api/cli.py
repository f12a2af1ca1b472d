"""`qa serve`: registered with the qa command through the article_qa.commands entry points."""

from __future__ import annotations

import click

from qa.cli import errors
from qa.settings import Settings


@click.command()
@click.option("--host", default=None, help="Address to bind (default QA_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default QA_PORT, 8000).")
@click.option(
    "--workers", type=int, default=1, help="uvicorn worker processes (needs a Chroma server)."
)
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API and the chat page with uvicorn."""
    from api.server import run

    with errors():
        run(
            settings.model_copy(
                update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
            ),
            workers=workers,
        )
