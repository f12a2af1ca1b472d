"""article-qa inside llama-index's own machinery: its retriever evaluator, query engines and
chat engine, with a real llama.cpp server (SmolLM2) as the LLM where an engine needs one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.llms import ChatMessage
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import get_response_synthesizer
from llama_index.core.schema import NodeWithScore

from eval.cli import DEFAULT_SETS
from qa.answer.llm import llm_from_settings
from qa.cli import packaged_gguf
from qa.llamaindex import ArticleQueryEngine, ArticleRetriever
from qa.service import Service
from qa.settings import Settings
from qa.types import Filters

from .conftest import FIXTURES, SEEDS
from .servers import llm_server

SEED_ID = "us-says-civilian-deaths-unintended"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path_factory.mktemp("li") / "data", _env_file=None)  # type: ignore[call-arg]
    with Service(settings, embedder=embedder) as service:
        service.ingest([FIXTURES, SEEDS])
        yield service


def assert_exact(service: Service, found: NodeWithScore) -> None:
    """The node's text is the article's text at the node's offsets."""
    node = found.node
    text = service.article(node.metadata["article_id"])[1]
    assert text[node.start_char_idx : node.end_char_idx] == node.get_content()
    assert node.ref_doc_id == node.metadata["article_id"]


def test_the_retriever_gives_nodes_with_exact_offsets_and_article_metadata(
    library: Service,
) -> None:
    found = ArticleRetriever(library, top_k=3).retrieve(
        "Which air base did the F-16 jets fly from?"
    )
    assert len(found) == 3 and "Incirlik" in found[0].node.get_content()
    for item in found:
        assert_exact(library, item)
    meta = found[0].node.metadata
    assert meta["article_id"] == SEED_ID and meta["title"] == "US says civilian deaths unintended"
    assert found[0].score is not None and found[0].score >= found[1].score  # type: ignore[operator]
    # What an LLM is shown of a node: its title and text, no ids.
    shown = found[0].node.get_content(metadata_mode="llm")  # type: ignore[arg-type]
    assert "US says civilian deaths unintended" in shown and "chunk_id" not in shown


def test_the_retriever_applies_search_filters(library: Service) -> None:
    other = next(a.id for a in library.articles() if a.id != SEED_ID)
    found = ArticleRetriever(library, filters=Filters(article_ids=(other,))).retrieve(
        "Which air base did the F-16 jets fly from?"
    )
    assert found and {n.node.metadata["article_id"] for n in found} == {other}
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        ArticleRetriever(library, top_k=0)


def test_llama_index_retrieval_evaluator_scores_the_seed_set(library: Service) -> None:
    """Hit rate and MRR from llama-index's own RetrieverEvaluator: the expected node of a seed
    question is the chunk that holds its evidence phrase."""
    chunks = [n.node for n in ArticleRetriever(library, top_k=50).retrieve("airstrikes Syria")]
    chunks = [c for c in chunks if c.metadata["article_id"] == SEED_ID]
    evaluator = RetrieverEvaluator.from_metric_names(
        ["hit_rate", "mrr"], retriever=ArticleRetriever(library, top_k=5)
    )
    hits, mrrs = [], []
    for line in DEFAULT_SETS[0].read_text().splitlines():
        q = json.loads(line)
        if not q["answerable"] or not q.get("evidence") or q.get("history"):
            continue
        expected = [c.node_id for c in chunks if q["evidence"] in c.get_content()]
        assert expected, q["id"]
        result = evaluator.evaluate(query=q["question"], expected_ids=expected)
        hits.append(result.metric_vals_dict["hit_rate"])
        mrrs.append(result.metric_vals_dict["mrr"])
    assert len(hits) >= 40
    assert sum(hits) / len(hits) >= 0.95 and sum(mrrs) / len(mrrs) >= 0.8


def test_the_query_engine_answers_with_exactly_the_verified_citations(library: Service) -> None:
    response = ArticleQueryEngine(library).query("Who denied awareness of the airstrikes?")
    answer = response.metadata
    assert answer is not None and answer["answered"] and "Toner" in (answer["short_answer"] or "")
    assert response.response == answer["answer"]
    assert [n.node.get_content() for n in response.source_nodes] == [
        c["quote"] for c in answer["citations"]
    ]
    for found, citation in zip(response.source_nodes, answer["citations"], strict=True):
        assert_exact(library, found)
        assert (found.node.start_char_idx, found.node.end_char_idx) == (
            citation["start"],
            citation["end"],
        )
    declined = ArticleQueryEngine(library).query("Who won the 2015 Champions League final?")
    assert declined.metadata and not declined.metadata["answered"]


@pytest.fixture(scope="module")
def llm() -> Iterator[object]:
    """llama-index's OpenAILike talking to a real llama.cpp server with SmolLM2."""
    with llm_server() as url:
        settings = Settings(  # type: ignore[call-arg]
            answerer="llm", llm_url=url, llm_model=packaged_gguf().stem, _env_file=None
        )
        yield llm_from_settings(settings)


@pytest.mark.slow
def test_a_retriever_query_engine_over_article_qa(library: Service, llm) -> None:  # type: ignore[no-untyped-def]
    engine = RetrieverQueryEngine(
        retriever=ArticleRetriever(library, top_k=3),
        response_synthesizer=get_response_synthesizer(llm=llm, response_mode="compact"),
    )
    response = engine.query("Which air base did the F-16 jets fly from?")
    assert str(response).strip()  # the small model's words: not checked, only its sources are
    assert "Incirlik" in response.source_nodes[0].node.get_content()
    for found in response.source_nodes:
        assert_exact(library, found)


@pytest.mark.slow
def test_a_condense_plus_context_chat_over_the_seed_article(library: Service, llm) -> None:  # type: ignore[no-untyped-def]
    chat = CondensePlusContextChatEngine.from_defaults(
        retriever=ArticleRetriever(library, top_k=3), llm=llm
    )
    first = chat.chat("Which air base did the F-16 jets fly from?")
    assert any("Incirlik" in n.node.get_content() for n in first.source_nodes)
    follow = chat.chat("In which province is it?")
    assert follow.source_nodes and all(
        n.node.metadata["article_id"] in {a.id for a in library.articles()}
        for n in follow.source_nodes
    )
    for found in [*first.source_nodes, *follow.source_nodes]:
        assert_exact(library, found)
    history = chat.chat_history
    assert [m.role.value for m in history] == ["user", "assistant", "user", "assistant"]
    assert isinstance(history[0], ChatMessage)
    assert history[0].content == "Which air base did the F-16 jets fly from?"
