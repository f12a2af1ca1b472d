"""The span reader: a small cross-encoder that reads a question with a sentence.

It is the first layers of the embedding model (all-MiniLM-L6-v2) with one linear head giving
each word piece a start and an end logit, fine-tuned on SQuAD train (`python -m
eval.train.spans`, weights/span_reader/). One pass over a question and a few sentences gives
each sentence its best span and how far that beats the null answer at [CLS] ("no words here
answer"): the margin ranks the sentences and weighs in the confidence, and the span of the one
an answer quotes is its short answer. A passage reader (reader.json's "reads": "passage",
`python -m eval.train.spans --passages`) reads each retrieved chunk whole instead and scores its
sentences by their best spans inside it (read()); a "previous" reader (`--passages --reads
previous`) reads each sentence after the one before it, which often says who "he" is. A reader
with a verdict (`--verdict`) also gives, from the same pass, a logit at [CLS] of whether what
it read answers the question at all, learned from near misses that the span logits never see.
Only what fine-tuning changed ships, in the folder's reader.safetensors; the word-piece
embeddings stay frozen and are read from the base model, so any copy of all-MiniLM-L6-v2 (the
packaged one, a path, or the hub) completes it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

from qa.answer.features import InPassage
from qa.compute import share
from qa.encoder import FastBert, supports
from qa.index.embedding import plain_bert_folder, resolve_model, use_bf16

log = logging.getLogger(__name__)
WEIGHTS_DIR = Path(__file__).with_name("weights")
WEIGHTS = "reader.safetensors"
CONFIG = "reader.json"
FROZEN = "embeddings.word_embeddings.weight"
MAX_SPAN_TOKENS = 16  # the longest short answer the reader gives, in word pieces
SPAN_READER_DIR = WEIGHTS_DIR / "span_reader"
# The head's outputs by task. "span" (the span reader): each token's start and end logits.
# A reader with a verdict (reader.json's "verdict") has one output more, read at [CLS]: whether
# the sentence answers the question at all (VERDICT).
OUTPUTS = {"span": 2}
VERDICT = 2  # the head's output that is the verdict logit, at [CLS]
READS = ("sentence", "passage", "previous", "both")


@dataclass(frozen=True)
class ReaderConfig:
    base: str  # the model whose first `layers` layers and word pieces the reader starts from
    layers: int
    max_length: int
    task: str = "span"
    # What one pass reads beside the question: "sentence" (each sentence alone), "passage" (a
    # retrieved chunk whole, every sentence of it scored by its best span inside it) or
    # "previous" (each sentence after the one before it in its chunk, which often names who
    # "he" or "it" is; its span from the sentence itself) or "both" (each sentence alone and
    # after the one before it, the two readings' logits averaged: the context names who "he"
    # is, the sentence alone keeps a neighbour's answer from lending this sentence its words).
    reads: str = "sentence"
    # Whether the head also gives a verdict at [CLS] (`eval.train.spans --verdict`): a logit of
    # "this sentence answers the question", learned from near misses too (on-topic sentences of
    # the article that lack the fact, the question asked with a word swapped), which the span
    # logits are not taught, so that telling near misses apart does not cost answer spans.
    verdict: bool = False

    @property
    def outputs(self) -> int:
        """How many logits the head gives a word piece."""
        return OUTPUTS[self.task] + int(self.verdict)

    @classmethod
    def load(cls, folder: Path) -> ReaderConfig:
        data = json.loads((folder / CONFIG).read_text())
        config = cls(
            data["base"],
            int(data["layers"]),
            int(data["max_length"]),
            str(data.get("task", "span")),
            str(data.get("reads", "sentence")),
            bool(data.get("verdict", False)),
        )
        if config.reads not in READS:
            raise ValueError(f"{folder / CONFIG}: unknown reading {config.reads!r}")
        return config


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
    if config.task not in OUTPUTS:
        raise ValueError(f"unknown reader task {config.task!r}")
    head = torch.nn.Linear(encoder.config.hidden_size, config.outputs)
    return tokenizer, encoder, head


def pair_batch(
    tokenizer: Any, questions: Sequence[str], passages: Sequence[str], max_length: int
) -> tuple[Any, list[list[tuple[int, int]]]]:
    """Question/passage pairs as one padded batch of tensors (the passage truncated first), and
    each pair's word-piece offsets, which place spans back in the text."""
    batch = tokenizer(
        list(questions),
        list(passages),
        truncation="longest_first",
        max_length=max_length,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    return batch, batch.pop("offset_mapping").tolist()


def reader_logits(
    encoder: Any, head: Any, batch: Any, fast: FastBert | None = None
) -> tuple[Any, Any, Any]:
    """A span reader's start and end logits of every token, and each pair's verdict logit
    (None for a head without one), in float32; `fast`, the same encoder's inference pass
    (qa.encoder), computes them where given."""
    if fast is not None:
        hidden = fast(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    else:
        hidden = encoder(**batch).last_hidden_state
    out = head(hidden.float())
    verdict = out[:, 0, VERDICT] if out.shape[-1] > VERDICT else None
    return out[..., 0], out[..., 1], verdict


def span_logits(
    encoder: Any, head: Any, batch: Any, fast: FastBert | None = None
) -> tuple[Any, Any]:
    """reader_logits' start and end logits of every token."""
    starts, ends, _ = reader_logits(encoder, head, batch, fast)
    return starts, ends


def sentence_tokens(batch: Any, offsets: list[list[tuple[int, int]]], k: int, length: int) -> Any:
    """Which tokens of pair k a span may use: the word pieces of the passage's first `length`
    characters (the sentence's own, not the question's or the special tokens)."""
    import torch

    ids = batch.sequence_ids(k)
    return torch.tensor(
        [s == 1 and 0 < offsets[k][t][1] <= length for t, s in enumerate(ids)], dtype=torch.bool
    )


def batch_sentence_tokens(batch: Any, offsets: list[list[tuple[int, int]]], lengths: Any) -> Any:
    """sentence_tokens of every pair at once, (pairs, tokens): for a BERT pair batch the
    passage's tokens are those of token type 1, so no per-token Python is needed."""
    import torch

    if "token_type_ids" not in batch:
        return torch.stack([sentence_tokens(batch, offsets, k, n) for k, n in enumerate(lengths)])
    ends = torch.tensor(offsets, dtype=torch.long)[..., 1]
    limit = torch.tensor(list(lengths), dtype=torch.long)[:, None]
    passage = (batch["token_type_ids"] == 1) & batch["attention_mask"].bool()
    return passage & (ends > 0) & (ends <= limit)


def decode_spans(
    starts: Any, ends: Any, allowed: Any, max_tokens: int = MAX_SPAN_TOKENS
) -> list[tuple[int, int, float] | None]:
    """Each pair's best span of its allowed tokens (the sentence's own word pieces), at most
    max_tokens long: (first token, last token, its start+end logits minus the null answer's at
    [CLS]), or None where no token is allowed. All pairs in one tensor computation."""
    import torch

    n = int(allowed.shape[1])
    band = torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(
        max_tokens
    )
    ok = allowed[:, :, None] & allowed[:, None, :] & band
    scores = (starts[:, :n, None] + ends[:, None, :n]).masked_fill(~ok, float("-inf"))
    best = scores.flatten(1).argmax(1)
    null = starts[:, 0] + ends[:, 0]
    found: list[tuple[int, int, float] | None] = []
    for k, at in enumerate(best.tolist()):
        i, j = divmod(at, n)
        found.append((i, j, float(scores[k, i, j] - null[k])) if bool(ok[k, i, j]) else None)
    return found


def decode_span(
    start: Any, end: Any, allowed: Any, max_tokens: int = MAX_SPAN_TOKENS
) -> tuple[int, int, float] | None:
    """decode_spans of one pair."""
    return decode_spans(start[None], end[None], allowed[None], max_tokens)[0]


class FolderPairs:
    """pair_batch of a model folder's tokenizer.json, run by the tokenizers library as
    transformers' fast tokenizer runs it (the pair truncated longest first, padded to the
    longest pair): the same ids and offsets, without importing transformers."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        padding = self._tokenizer.padding or {}
        pad = str(padding.get("pad_token", "[PAD]"))
        pad_id = padding.get("pad_id", self._tokenizer.token_to_id(pad))
        self._tokenizer.enable_truncation(max_length, strategy="longest_first")
        self._tokenizer.enable_padding(pad_id=int(pad_id or 0), pad_token=pad)

    def __call__(
        self, questions: list[str], passages: list[str]
    ) -> tuple[dict[str, Any], list[list[tuple[int, int]]]]:
        import torch

        encoded = self._tokenizer.encode_batch(list(zip(questions, passages, strict=True)))
        batch = {
            "input_ids": torch.tensor([e.ids for e in encoded]),
            "token_type_ids": torch.tensor([e.type_ids for e in encoded]),
            "attention_mask": torch.tensor([e.attention_mask for e in encoded]),
        }
        return batch, [[(int(a), int(b)) for a, b in e.offsets] for e in encoded]


def _restored(
    base: dict[str, Any], trained: dict[str, Any], config: ReaderConfig, source: Path
) -> dict[str, Any]:
    """The reader's encoder weights: the trained ones (read from `source`), with the base's
    frozen word pieces. Raises ValueError, naming what does not fit, when they are not the
    base's first `config.layers` layers."""
    layers = len({k.split(".")[2] for k in base if k.startswith("encoder.layer.")})
    if not 1 <= config.layers <= layers:
        raise ValueError(f"{config.base} has {layers} layers, not {config.layers}")
    wanted = {
        k
        for k in base
        if not k.startswith(("pooler.", "embeddings.position_ids"))
        and (not k.startswith("encoder.layer.") or int(k.split(".")[2]) < config.layers)
    }
    missing = sorted(wanted - set(trained) - {FROZEN})
    unexpected = sorted(set(trained) - wanted)
    if missing or unexpected:
        raise ValueError(
            f"{source} does not fit {config}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return {FROZEN: base[FROZEN], **trained}


def as_asked(question: str) -> str:
    """The question as SQuAD's askers wrote it, which is what the reader learned from: ending
    with a question mark (99% of SQuAD train's questions do). A question typed without one
    ("what day was atme bombed") otherwise reads as less of a question: the reader's margins
    for the sentence that answers it fall by about a logit. A question ending with other
    punctuation ("Name the spokesman.") is left as it is."""
    question = question.strip()
    return question if not question or question[-1] in "?.!\"'”’)" else question + "?"


@dataclass(frozen=True)
class Found:
    """The reader's best span of one sentence: character offsets into it, and by how much
    it beats the null answer ("nothing here answers"); it answers when margin > 0."""

    start: int
    end: int
    text: str
    margin: float
    # The verdict logit of what was read ("this answers the question"), for a reader with one.
    verdict: float | None = None


class SpanReader:
    """Finds the words of each sentence that answer a question (SQuAD-style start and end), and
    by how much they beat "no words here answer": a folder's encoder and head, restored onto
    the base model, ready to run."""

    task = "span"

    def __init__(self, folder: Path = SPAN_READER_DIR, precision: str = "auto") -> None:
        import torch
        from safetensors.torch import load_file

        self.config = ReaderConfig.load(folder)
        if self.config.task not in OUTPUTS:
            raise ValueError(f"unknown reader task {self.config.task!r}")
        state = load_file(folder / WEIGHTS)
        head = {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}
        encoder = {k: v for k, v in state.items() if not k.startswith("head.")}
        if self.config.task != self.task or head["weight"].shape[0] != self.config.outputs:
            raise ValueError(f"{folder} does not hold a {self.task} reader")
        self._bf16 = use_bf16(precision, "cpu", torch)
        dtype = torch.bfloat16 if self._bf16 else torch.float32
        base = resolve_model(self.config.base)
        self._encoder: Any = None
        self._fast: FastBert | None
        if plain_bert_folder(base) is not None:
            # The packaged base model: the encoder is the base's word pieces and this folder's
            # weights, run by qa.encoder's pass, tokenized by the tokenizers library; no
            # transformers import (about two seconds of a cold `qa ask`).
            self._pairs: Callable[[list[str], list[str]], Any] = FolderPairs(
                Path(base) / "tokenizer.json", self.config.max_length
            )
            config = json.loads((Path(base) / "config.json").read_text())
            base_weights = load_file(Path(base) / "model.safetensors")
            weights = _restored(base_weights, encoder, self.config, folder / WEIGHTS)
            self._fast = FastBert(
                {k: v.to(dtype) for k, v in weights.items()},
                config["num_attention_heads"],
                config.get("layer_norm_eps", 1e-12),
            )
            hidden = int(config["hidden_size"])
        else:
            tokenizer, self._encoder, _ = build(self.config)
            self._pairs = partial(pair_batch, tokenizer, max_length=self.config.max_length)
            missing, unexpected = self._encoder.load_state_dict(encoder, strict=False)
            if unexpected or set(missing) - {FROZEN}:
                raise ValueError(
                    f"{folder / WEIGHTS} does not fit {self.config}: {missing} {unexpected}"
                )
            self._encoder = self._encoder.eval().to(dtype)
            self._fast = FastBert.from_model(self._encoder) if supports(self._encoder) else None
            hidden = int(self._encoder.config.hidden_size)
        self._head = torch.nn.Linear(hidden, self.config.outputs)
        self._head.load_state_dict({k: v.float() for k, v in head.items()})
        # Guards the tokenizer (a fast tokenizer is not safe to call from two threads at once);
        # forward passes run concurrently, each on its share of the cores (qa.compute).
        self._lock = threading.Lock()
        log.info(
            "loaded a %s reader (%d layers, bf16=%s)", self.task, self.config.layers, self._bf16
        )

    def find(self, question: str, sentences: Sequence[str]) -> list[Found | None]:
        """Each sentence's best span, whole words, or None when no word of it could be read
        (a question so long that truncation left none)."""
        if not sentences:
            return []
        import torch

        with self._lock:
            batch, offsets = self._pairs([as_asked(question)] * len(sentences), list(sentences))
        with share(), torch.inference_mode():
            starts, ends, verdicts = reader_logits(self._encoder, self._head, batch, self._fast)
        allowed = batch_sentence_tokens(batch, offsets, [len(s) for s in sentences])
        return _best_spans(
            sentences, offsets, starts, ends, allowed, _listed(verdicts, len(sentences))
        )

    def read(self, question: str, items: Sequence[InPassage]) -> list[Found | None]:
        """Each sentence's best span, the sentence given in its passage. As the reader was
        trained to read (reader.json's "reads"): a "sentence" reader reads each sentence alone
        (find()); a "passage" reader reads each distinct passage whole once; a "previous"
        reader reads each sentence after the one before it in its passage. The span is the
        best inside the sentence, its margin over the null answer of what was read. Offsets
        are into the sentence."""
        reads = self.config.reads
        if reads == "sentence" or not items:
            return self.find(question, [item.text[item.start : item.end] for item in items])
        if reads == "both":
            return self._read_both(question, items)
        import torch

        froms = [0 if reads == "passage" or item.before is None else item.before for item in items]
        tos = [len(item.text) if reads == "passage" else item.end for item in items]
        windows = [item.text[a:b] for item, a, b in zip(items, froms, tos, strict=True)]
        texts = list(dict.fromkeys(windows))
        with self._lock:
            batch, offsets = self._pairs([as_asked(question)] * len(texts), texts)
        with share(), torch.inference_mode():
            starts, ends, verdicts = reader_logits(self._encoder, self._head, batch, self._fast)
        verdict = _listed(verdicts, len(texts))
        row = {text: k for k, text in enumerate(texts)}
        at = [row[window] for window in windows]
        inside = batch_sentence_tokens(batch, offsets, [len(t) for t in texts])[at]
        first = torch.tensor([[o[0] for o in offsets[k]] for k in at], dtype=torch.long)
        last = torch.tensor([[o[1] for o in offsets[k]] for k in at], dtype=torch.long)
        a = torch.tensor([it.start - f for it, f in zip(items, froms, strict=True)])[:, None]
        b = torch.tensor([it.end - f for it, f in zip(items, froms, strict=True)])[:, None]
        allowed = inside & (first >= a) & (last <= b)
        found: list[Found | None] = []
        for k, (item, shift, best) in enumerate(
            zip(items, froms, decode_spans(starts[at], ends[at], allowed), strict=True)
        ):
            if best is None:
                found.append(None)
                continue
            i, j, margin = best
            sentence = item.text[item.start : item.end]
            start = offsets[at[k]][i][0] + shift - item.start
            x, y = word_bounds(sentence, start, offsets[at[k]][j][1] + shift - item.start)
            found.append(Found(x, y, sentence[x:y], margin, verdict[at[k]]))
        return found

    def _read_both(self, question: str, items: Sequence[InPassage]) -> list[Found | None]:
        """read() for a "both" reader: each sentence read alone and after the sentence before
        it, in one batch; each word piece's start and end logits (and the null answer's) are
        the mean of the two readings', and the span is decoded from those (of the word pieces
        both readings hold: truncation may cut a long pair short)."""
        import torch

        sentences = [item.text[item.start : item.end] for item in items]
        froms = [item.start if item.before is None else item.before for item in items]
        windows = [item.text[f : item.end] for item, f in zip(items, froms, strict=True)]
        texts = list(dict.fromkeys([*sentences, *windows]))
        with self._lock:
            batch, offsets = self._pairs([as_asked(question)] * len(texts), texts)
        with share(), torch.inference_mode():
            starts, ends, verdicts = reader_logits(self._encoder, self._head, batch, self._fast)
        inside = batch_sentence_tokens(batch, offsets, [len(t) for t in texts]).tolist()
        row = {text: k for k, text in enumerate(texts)}
        alone = [row[s] for s in sentences]
        mean_starts, mean_ends = starts[alone].clone(), ends[alone].clone()
        allowed = torch.zeros(mean_starts.shape, dtype=torch.bool)
        for k, (item, f) in enumerate(zip(items, froms, strict=True)):
            a, w = alone[k], row[windows[k]]
            there = _aligned(offsets[w], inside[w], item.start - f)
            # The same word pieces in both readings, and the null answer's [CLS].
            pairs = [(0, 0)] + [
                (t, there[key])
                for key, t in _aligned(offsets[a], inside[a], 0).items()
                if key in there
            ]
            ts = torch.tensor([t for t, _ in pairs])
            us = torch.tensor([u for _, u in pairs])
            mean_starts[k, ts] = (starts[a, ts] + starts[w, us]) / 2
            mean_ends[k, ts] = (ends[a, ts] + ends[w, us]) / 2
            allowed[k, ts[1:]] = True
        if verdicts is not None:  # each sentence's verdict: the mean of its two readings'
            verdicts = (verdicts[alone] + verdicts[[row[w] for w in windows]]) / 2
        means = _listed(verdicts, len(items))
        return _best_spans(
            sentences, [offsets[a] for a in alone], mean_starts, mean_ends, allowed, means
        )


def _aligned(
    offsets: list[tuple[int, int]], inside: list[bool], shift: int
) -> dict[tuple[int, int], int]:
    """The sentence's word pieces of one pair by their character offsets into the sentence
    (the pair's passage starting `shift` characters before it)."""
    return {
        (a - shift, b - shift): t
        for t, ((a, b), ok) in enumerate(zip(offsets, inside, strict=False))
        if ok and a >= shift
    }


def _listed(verdicts: Any, pairs: int) -> list[float | None]:
    """reader_logits' verdicts of `pairs` pairs as floats; Nones where the head gives none."""
    return [None] * pairs if verdicts is None else [float(v) for v in verdicts.tolist()]


def _best_spans(
    sentences: Sequence[str],
    offsets: list[list[tuple[int, int]]],
    starts: Any,
    ends: Any,
    allowed: Any,
    verdicts: Sequence[float | None] = (),
) -> list[Found | None]:
    """Each sentence's best span in whole words, from its start and end logits over the word
    pieces allowed (offsets into the sentence), with its verdict where given; None where none
    is allowed (truncation left none of its word pieces)."""
    found: list[Found | None] = []
    for k, (sentence, best) in enumerate(
        zip(sentences, decode_spans(starts, ends, allowed), strict=True)
    ):
        if best is None:
            found.append(None)
            continue
        i, j, margin = best
        a, b = word_bounds(sentence, offsets[k][i][0], offsets[k][j][1])
        found.append(Found(a, b, sentence[a:b], margin, verdicts[k] if verdicts else None))
    return found


def word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The span widened to whole words, without the punctuation around it."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    while start < end and not text[start].isalnum() and text[start] not in "$£€":
        start += 1
    while end > start and not text[end - 1].isalnum() and text[end - 1] != "%":
        end -= 1
    return start, end


def load_span_reader(folder: Path = SPAN_READER_DIR) -> SpanReader:
    """The span reader, loaded once a process."""
    return _spans(folder.resolve())


@cache
def _spans(folder: Path) -> SpanReader:
    return SpanReader(folder)
