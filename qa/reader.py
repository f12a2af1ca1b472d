"""A small cross-encoder that reads a question and a sentence together and says whether the
sentence answers it.

It is the first layers of the embedding model (all-MiniLM-L6-v2) with a one-unit head, fine-tuned
on SQuAD by `python -m eval.train_reader`. Two ship: qa/reader/ reads the sentence alone,
qa/reader_context/ the sentence and the one before it. Only what fine-tuning changed ships, in
each folder's reader.safetensors; the word-piece embeddings stay frozen and are read from the
base model, so any copy of all-MiniLM-L6-v2 (the packaged one, a path, or the hub) completes it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from qa.embedding import _use_bf16, resolve_model

log = logging.getLogger(__name__)
READER_DIR = Path(__file__).with_name("reader")
# The shipped readers: the sentence alone (read for every question), and the sentence with the
# one before it (python -m eval.train_reader --context --max-length 128 --out qa/reader_context),
# read too when the first leaves the answerer unsure (qa/answering.py).
READER_DIRS = (READER_DIR, Path(__file__).with_name("reader_context"))
WEIGHTS = "reader.safetensors"
CONFIG = "reader.json"
FROZEN = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class ReaderConfig:
    base: str  # the model whose first `layers` layers and word pieces the reader starts from
    layers: int
    max_length: int
    titles: bool = False  # whether it reads "title: sentence" rather than the sentence alone
    context: bool = False  # whether it also reads the sentence before, after a [SEP]

    @classmethod
    def load(cls, folder: Path) -> ReaderConfig:
        data = json.loads((folder / CONFIG).read_text())
        return cls(
            data["base"],
            int(data["layers"]),
            int(data["max_length"]),
            bool(data.get("titles")),
            bool(data.get("context")),
        )

    def passage(self, sentence: str, title: str | None, previous: str | None = None) -> str:
        """What the reader reads beside the question; the sentence before comes last, so it is
        what truncation cuts first."""
        text = f"{title}: {sentence}" if self.titles and title else sentence
        return f"{text} [SEP] {previous}" if self.context and previous else text


def build(config: ReaderConfig) -> tuple[Any, Any, Any]:
    """(tokenizer, encoder, head) with the base model's weights: what training starts from."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model(config.base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    # The base's pooler is dropped on purpose: keep transformers from reporting it as unused.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    if not 1 <= config.layers <= len(encoder.encoder.layer):
        raise ValueError(
            f"{config.base} has {len(encoder.encoder.layer)} layers, not {config.layers}"
        )
    encoder.encoder.layer = encoder.encoder.layer[: config.layers]
    encoder.config.num_hidden_layers = config.layers
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    return tokenizer, encoder, head


def pooled_logits(encoder: Any, head: Any, batch: Any) -> Any:
    """Mean of the last layer over real tokens (how the base model was trained), then the head;
    pooled in float32 whatever the encoder computes in."""
    hidden = encoder(**batch).last_hidden_state.float()
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return head(mean).squeeze(-1)


class SentenceReader:
    """Scores (question, sentence) pairs: the probability that the sentence answers."""

    def __init__(self, folder: Path = READER_DIR, precision: str = "auto") -> None:
        import torch
        from safetensors.torch import load_file

        self.config = ReaderConfig.load(folder)
        self._tokenizer, self._encoder, self._head = build(self.config)
        state = load_file(folder / WEIGHTS)
        head = {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}
        encoder = {k: v for k, v in state.items() if not k.startswith("head.")}
        missing, unexpected = self._encoder.load_state_dict(encoder, strict=False)
        if unexpected or set(missing) - {FROZEN}:
            raise ValueError(
                f"{folder / WEIGHTS} does not fit {self.config}: {missing} {unexpected}"
            )
        self._head.load_state_dict({k: v.float() for k, v in head.items()})
        self._encoder.eval()
        self._bf16 = _use_bf16(precision, "cpu", torch)
        if self._bf16:
            self._encoder = self._encoder.to(torch.bfloat16)
        else:
            self._encoder = self._encoder.float()
        self._lock = threading.Lock()
        log.info("loaded the sentence reader (%d layers, bf16=%s)", self.config.layers, self._bf16)

    def logits(
        self,
        question: str,
        sentences: Sequence[str],
        titles: Sequence[str | None] | None = None,
        previous: Sequence[str | None] | None = None,
    ) -> list[float]:
        """One logit a sentence; titles are those of the sentences' articles, previous the
        sentences just before them (None for the first of a passage)."""
        if not sentences:
            return []
        import torch

        titles = titles or [None] * len(sentences)
        previous = previous or [None] * len(sentences)
        batch = self._tokenizer(
            [question] * len(sentences),
            [
                self.config.passage(s, t, p)
                for s, t, p in zip(sentences, titles, previous, strict=True)
            ],
            truncation="longest_first",
            max_length=self.config.max_length,
            padding=True,
            return_tensors="pt",
        )
        with self._lock, torch.inference_mode():
            return [float(x) for x in pooled_logits(self._encoder, self._head, batch)]

    def score(
        self,
        question: str,
        sentences: Sequence[str],
        titles: Sequence[str | None] | None = None,
        previous: Sequence[str | None] | None = None,
    ) -> list[float]:
        """Probabilities: the logits through a sigmoid."""
        logits = self.logits(question, sentences, titles, previous)
        return [1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) for z in logits]


def load_reader(folder: Path = READER_DIR) -> SentenceReader:
    """One reader, loaded once a process (whether its folder is given or the default)."""
    return _loaded(folder.resolve())


@cache
def _loaded(folder: Path) -> SentenceReader:
    return SentenceReader(folder)


def load_readers(folders: tuple[Path, ...] = READER_DIRS) -> tuple[SentenceReader, ...]:
    """The shipped readers, first the one that reads every question; a missing folder is an
    error, not a quiet fallback to fewer."""
    return tuple(load_reader(folder) for folder in folders)
