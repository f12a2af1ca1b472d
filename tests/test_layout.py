"""The layering rules of ARCHITECTURE.md, checked on the import graph (grimp): qa never imports
api or eval, and no module imports one that imports it back, directly or through others."""

from __future__ import annotations

import sys

import grimp
import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))  # this checkout, whatever is installed
    try:
        return grimp.build_graph("qa", "api", "eval", include_external_packages=False)
    finally:
        sys.path.remove(str(ROOT))


@pytest.mark.parametrize("upper", ["api", "eval"])
def test_the_library_never_imports_its_users(graph: grimp.ImportGraph, upper: str) -> None:
    chain = graph.find_shortest_chain(importer="qa", imported=upper, as_packages=True)
    assert chain is None, f"qa reaches {upper}: {' -> '.join(chain or ())}"


def test_api_never_imports_eval(graph: grimp.ImportGraph) -> None:
    assert not graph.chain_exists(importer="api", imported="eval", as_packages=True)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []


def test_benchmarks_and_trainers_find_the_repository_and_the_public_data() -> None:
    from eval.bench import common, ingest
    from eval.train.common import DEFAULT_SQUAD

    assert common.ROOT == ROOT
    assert common.BBC == ingest.DEFAULT_DATA == ROOT.parent / "shared" / "data" / "bbc-news"
    assert DEFAULT_SQUAD.parent == ROOT.parent / "shared" / "data"
