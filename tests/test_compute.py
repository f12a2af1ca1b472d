"""Concurrent forward passes share the cores (qa/compute.py): real threads, real models."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from qa.answer.readers import load_span_reader
from qa.compute import Cores
from qa.index.embedding import SentenceTransformerEmbedder


def test_a_lone_pass_takes_every_core_and_sets_its_threads() -> None:
    cores = Cores(3)
    with cores.share() as took:
        assert took == 3
        assert torch.get_num_threads() == 3
        assert cores.running() == 3
    assert cores.running() == 0
    with Cores(1).share() as took:
        assert took == 1 and torch.get_num_threads() == 1


def test_concurrent_passes_take_a_core_each_and_never_more_than_there_are() -> None:
    cores = Cores(2)
    most, took_seen, lock = 0, [], threading.Lock()
    start = threading.Barrier(6)

    def work() -> None:
        nonlocal most
        start.wait()
        for _ in range(20):
            with cores.share() as took:
                with lock:
                    most = max(most, cores.running())
                    took_seen.append((took, torch.get_num_threads()))
                time.sleep(0.002)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: work(), range(6)))
    assert most <= 2
    assert all(t == n for t, n in took_seen)  # each pass ran on the threads it took
    # Nearly every pass found others waiting, so took one core and left one for the next.
    assert sum(t == 1 for t, _ in took_seen) >= len(took_seen) * 0.9
    assert cores.running() == 0


def test_configure_changes_the_cores_without_losing_any() -> None:
    cores = Cores(2)
    with cores.share() as took:
        cores.configure(4)
        assert took == 2
    assert cores.running() == 0
    with cores.share() as took:
        assert took == 4
    cores.configure(0)
    assert cores.cores >= 1 and cores.running() == 0


def test_embedding_in_batches_gives_the_vectors_of_one_call(
    embedder: SentenceTransformerEmbedder,
) -> None:
    texts = [("word " * n).strip() + f" {n}." for n in (3, 120, 7, 40, 1, 200, 15, 2, 90)] * 5
    got = embedder.embed_documents(texts)
    with torch.inference_mode():
        ref = embedder._mean_pooled(texts)  # all of them in one pass
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    assert got.shape == (len(texts), embedder.dim)
    assert float(np.min(np.sum(got * ref, axis=1))) > 0.999
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_models_called_from_many_threads_answer_as_called_alone(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """Asks run their passes concurrently on one model: each gets what it would alone."""
    spans = load_span_reader()
    sentences = [
        "The stone bridge over the river was begun in 1357 under King Charles IV.",
        "It is 516 metres long and nearly 10 metres wide.",
        "Thirty statues of saints line its parapets, most of them copies.",
    ]
    questions = [
        "How long is the bridge?",
        "When was the bridge begun?",
        "How many statues stand on the bridge?",
        "Who began the bridge?",
    ]

    def one(q: str) -> tuple[list[float], list[str | None], np.ndarray]:
        found = spans.find(q, sentences)
        margins = [f.margin if f else -1e9 for f in found]
        return margins, [f.text if f else None for f in found], embedder.embed_documents([q])[0]

    alone = {q: one(q) for q in questions}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, questions * 6))
    for q, (logits, found, vector) in zip(questions * 6, together, strict=True):
        want_logits, want_found, want_vector = alone[q]
        # One thread or two sum in another order: equal up to bfloat16 rounding.
        assert logits == pytest.approx(want_logits, abs=0.3)
        assert np.argmax(logits) == np.argmax(want_logits)
        assert found == want_found
        assert float(vector @ want_vector) > 0.999


def test_the_objects_a_loaded_model_leaves_are_frozen_out_of_collections(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """Loading the model freezes the objects alive then (gc.freeze): full collections no longer
    walk the model's half million, so what a process reads after it is not slowed down."""
    import gc

    assert embedder.dim > 0
    assert gc.get_freeze_count() > 100_000
