"""Schemathesis over /openapi.json against a real `qa serve`: every check on every operation
(tests/schemathesis.toml), 100 examples each: no server error, no reply the schema does not
describe, no request the schema allows refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES, ROOT, SEEDS
from .servers import qa_server

pytestmark = pytest.mark.slow


def test_the_api_keeps_every_promise_of_its_schema(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    with Service(Settings(data_dir=data, _env_file=None), embedder=embedder) as service:  # type: ignore[call-arg]
        service.ingest([FIXTURES, SEEDS])
    with qa_server({"QA_DATA_DIR": str(data)}) as url:
        st = Path(sys.executable).parent / "st"
        run = subprocess.run(
            [
                str(st),
                "--no-color",
                "--config-file",
                str(ROOT / "tests" / "schemathesis.toml"),
                "run",
                f"{url}/openapi.json",
                "--max-examples",
                "100",
                "--seed",
                "1",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]
