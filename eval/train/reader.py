"""Fine-tunes the reader (qa/answer/readers.py JointReader) on SQuAD train.

    python -m eval.train.reader [--squad PATH] [--questions 20000] [--checkpoint FILE]

The reader reads a question with one sentence and the sentence before it, and learns two things
at once: whether the sentence answers (one logit a pair) and which of its words do (start and
end logits a token, or the null answer at [CLS]). Each sampled question of the "reader"
paragraphs (eval.train.common.paragraphs: SQuAD train, never a paragraph of SQuAD dev, never
one the answerer learns from) gives a group of few, hard candidates: the sentence holding the
answer; two other sentences of its paragraph; a sentence of another paragraph of the same
Wikipedia article (same topic, another fact); and the sentence of another paragraph that shares
the most words with the question by BM25 (same words, another fact). The sentence loss is
pointwise (scores must mean something alone, so near misses score low) plus listwise (the
answer first in its group); the span loss is SQuAD's start and end cross-entropy over the
sentence's word pieces and [CLS], every candidate that does not hold the answer labelled null.

A 25th of the paragraphs are kept for validation. `--checkpoint FILE` saves the run every 250
steps and resumes from FILE when it exists; `--init FOLDER` starts from a shipped reader's
weights instead of the base model. Writes qa/answer/weights/reader/ (reader.safetensors and
reader.json). Commands, durations and figures: docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.metrics import exact_match, f1
from eval.sets import swap_term
from eval.train.common import fine_tune, load_init, paragraphs, reader_arguments, save_reader
from qa.answer.readers import (
    READER_DIR,
    ReaderConfig,
    build,
    decode_span,
    joint_logits,
    pair_batch,
    sentence_tokens,
    word_bounds,
)
from qa.text import sentence_spans

SEED = 5
VALID_SHARE = 1 / 25
VALID_QUESTIONS = 600  # validation questions checked after each epoch (a fixed sample)


@dataclass(frozen=True)
class Candidate:
    sentence: str
    previous: str | None  # the sentence before it in its paragraph
    label: float  # 1.0: it holds the answer
    answer: tuple[int, int] | None  # the answer's character offsets in it, where it holds it


@dataclass(frozen=True)
class Group:
    question: str
    candidates: tuple[Candidate, ...]
    golds: tuple[str, ...]  # every annotator's answer, for scoring


@dataclass(frozen=True)
class Check:
    """A validation question: every sentence of its paragraph, and its near misses."""

    group: Group  # the paragraph's sentences
    near: tuple[Candidate, ...]  # same article, other paragraphs
    lexical: tuple[Candidate, ...]  # most shared words, other paragraphs
    swapped: str | None  # the question with a specific word swapped (eval.sets.swap_term)


def _sentences(text: str) -> list[tuple[int, int, Candidate]]:
    spans = sentence_spans(text)
    texts = [text[s:e] for s, e in spans]
    return [
        (s, e, Candidate(t, texts[k - 1] if k else None, 0.0, None))
        for k, ((s, e), t) in enumerate(zip(spans, texts, strict=True))
    ]


def _labelled(text: str, qa: dict) -> list[Candidate]:  # type: ignore[type-arg]
    """The paragraph's sentences, labelled for one question: every sentence holding an answer
    start is positive; the one holding the first answer whole also gets its offsets."""
    starts = {a["answer_start"] for a in qa["answers"]}
    first = qa["answers"][0]
    a, b = first["answer_start"], first["answer_start"] + len(first["text"])
    out = []
    for s, e, c in _sentences(text):
        holds = any(s <= x < e for x in starts)
        offsets = (a - s, b - s) if s <= a and b <= e else None
        out.append(Candidate(c.sentence, c.previous, float(holds), offsets if holds else None))
    return out


def groups(
    path: Path, questions: int, seed: int = SEED, after: Sequence[int] = ()
) -> tuple[list[Group], list[Check]]:
    """Training groups of `questions` sampled questions, and validation checks. `after`: the
    sizes of the earlier runs, in order, each started from the one before's weights (--init);
    the questions each sampled (same seed, from what the runs before it left) are left out, so
    this run learns from questions none of them saw; the validation paragraphs stay the same."""
    import bm25s
    import numpy as np

    from qa.text import tokenize

    rng, swap_rng = random.Random(seed), random.Random(seed + 1)
    mine = [p for p in paragraphs(path) if p.part == "reader"]
    sentences = [[c for _, _, c in _sentences(p.text)] for p in mine]
    owner = [n for n, ss in enumerate(sentences) for _ in ss]
    every = [c for ss in sentences for c in ss]
    bm25 = bm25s.BM25()
    bm25.index([t or [""] for t in tokenize([c.sentence for c in every])], show_progress=False)
    by_title: dict[str, list[int]] = {}
    for n, p in enumerate(mine):
        by_title.setdefault(p.title, []).append(n)

    def lexical_miss(question: str, n: int) -> list[Candidate]:
        terms = tokenize([question])[0]
        if not terms:
            return []
        scores = bm25.get_scores(terms)
        best = np.argsort(-scores)[:12]
        return [every[i] for i in best if owner[i] != n and scores[i] > 0][:1]

    def same_topic(n: int, k: int) -> list[Candidate]:
        others = [m for m in by_title[mine[n].title] if m != n]
        return [rng.choice(sentences[m]) for m in rng.sample(others, min(k, len(others)))]

    held = {n for n in range(len(mine)) if rng.random() < VALID_SHARE}
    asked = [(n, qa) for n, p in enumerate(mine) if n not in held for qa in p.qas]
    for earlier in after:
        seen = {id(item) for item in rng.sample(asked, min(earlier, len(asked)))}
        asked = [item for item in asked if id(item) not in seen]
    asked = rng.sample(asked, min(questions, len(asked)))
    train = []
    for n, qa in asked:
        labelled = _labelled(mine[n].text, qa)
        positives = [c for c in labelled if c.label]
        if not positives:
            continue
        wrong = [c for c in labelled if not c.label]
        question = qa["question"].strip()
        picked = positives + rng.sample(wrong, min(2, len(wrong)))
        picked += same_topic(n, 1) + lexical_miss(question, n)
        golds = tuple(a["text"] for a in qa["answers"])
        train.append(Group(question, tuple(picked), golds))
    # The checks draw from their own generator, so they are the same whatever the run trains on.
    checks, rng = [], random.Random(seed + 2)
    pool = [(n, qa) for n in sorted(held) for qa in mine[n].qas]
    for n, qa in rng.sample(pool, min(VALID_QUESTIONS, len(pool))):
        labelled = _labelled(mine[n].text, qa)
        answer = next((c for c in labelled if c.answer is not None), None)
        if answer is None:
            continue
        question = qa["question"].strip()
        elsewhere = [c.sentence for m in by_title[mine[n].title] if m != n for c in sentences[m]]
        golds = tuple(a["text"] for a in qa["answers"])
        checks.append(
            Check(
                Group(question, tuple(labelled), golds),
                tuple(same_topic(n, 2)),
                tuple(lexical_miss(question, n)),
                swap_term(question, answer.sentence, elsewhere, swap_rng),
            )
        )
    return train, checks


def encode(tokenizer, config: ReaderConfig, pairs: list[tuple[str, Candidate]]):  # type: ignore[no-untyped-def]
    """The batch, its offsets, the tokens a span may use (the sentence's and [CLS]), and the
    gold start and end tokens: [CLS] for a sentence without the answer, -100 (no span loss)
    for one holding an answer the offsets cannot place (truncated, or a second annotator's)."""
    import torch

    batch, offsets = pair_batch(
        tokenizer,
        [q for q, _ in pairs],
        [config.passage(c.sentence, c.previous) for _, c in pairs],
        config.max_length,
    )
    allowed = torch.zeros(batch["input_ids"].shape, dtype=torch.bool)
    starts, ends = [], []
    for k, (_, c) in enumerate(pairs):
        mine = sentence_tokens(batch, offsets, k, len(c.sentence))
        allowed[k, : len(mine)] = mine
        allowed[k, 0] = True
        start = end = 0 if not c.label else -100
        if c.answer is not None:
            a, b = c.answer
            inside = [t for t in mine.nonzero().flatten().tolist() if offsets[k][t][0] < b]
            inside = [t for t in inside if offsets[k][t][1] > a]
            if inside and offsets[k][inside[-1]][1] >= b:
                start, end = inside[0], inside[-1]
        starts.append(start)
        ends.append(end)
    return batch, offsets, allowed, torch.tensor(starts), torch.tensor(ends)


def evaluate(tokenizer, encoder, head, config: ReaderConfig, checks: list[Check]) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """Sentence ranking: top-1 within the paragraph, and how often the answer outscores every
    near miss of each kind (same article; same words; the question with a word swapped).
    Spans: SQuAD exact match and F1 of the answer sentence's best span, and how often the null
    answer wins in the paragraph's other sentences."""
    import torch

    encoder.eval()
    tally = dict.fromkeys(
        ("top1", "near", "lexical", "swapped", "n_swapped", "em", "f1", "null", "n_null"), 0.0
    )
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for check in checks:
            g = check.group
            cands = list(g.candidates) + list(check.near) + list(check.lexical)
            pairs = [(g.question, c) for c in cands]
            answer = next(i for i, c in enumerate(g.candidates) if c.answer is not None)
            if check.swapped:
                pairs.append((check.swapped, g.candidates[answer]))
            batch, offsets, allowed, _, _ = encode(tokenizer, config, pairs)
            logits, starts, ends = joint_logits(encoder, head, batch)
            z = logits.float().tolist()
            k, m = len(g.candidates), len(check.near)
            best = max(range(k), key=lambda i: z[i])
            tally["top1"] += g.candidates[best].label
            own = max(z[i] for i in range(k) if g.candidates[i].label)
            tally["near"] += all(own > s for s in z[k : k + m])
            tally["lexical"] += all(own > s for s in z[k + m : len(cands)])
            if check.swapped:
                tally["n_swapped"] += 1
                tally["swapped"] += own > z[-1]
            for i, c in enumerate(g.candidates):
                mine = allowed[i].clone()
                mine[0] = False
                span = decode_span(starts[i].float(), ends[i].float(), mine)
                if i == answer:
                    text = ""
                    if span:
                        a, b = word_bounds(
                            c.sentence, offsets[i][span[0]][0], offsets[i][span[1]][1]
                        )
                        text = c.sentence[a:b]
                    tally["em"] += exact_match(text, g.golds)
                    tally["f1"] += f1(text, g.golds)
                elif not c.label:
                    tally["n_null"] += 1
                    tally["null"] += span is None or span[2] <= 0
    encoder.train()
    n = len(checks)
    return {
        "top1": round(tally["top1"] / n, 4),
        "beats_near_misses": round(tally["near"] / n, 4),
        "beats_lexical_misses": round(tally["lexical"] / n, 4),
        "beats_swapped_question": round(tally["swapped"] / max(1, tally["n_swapped"]), 4),
        "span_exact_match": round(tally["em"] / n, 4),
        "span_f1": round(tally["f1"] / n, 4),
        "other_sentences_given_no_span": round(tally["null"] / max(1, tally["n_null"]), 4),
    }


def train(args: argparse.Namespace, config: ReaderConfig) -> dict:  # type: ignore[type-arg]
    import torch

    torch.manual_seed(SEED)
    tokenizer, encoder, head = build(config)
    if args.init:
        load_init(encoder, head, args.init)
    data, checks = groups(args.squad, args.questions, after=args.after)
    n_pairs = sum(len(g.candidates) for g in data)
    print(
        f"{len(data)} questions, {n_pairs} pairs, {len(checks)} validation questions",
        file=sys.stderr,
    )
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)

    def loss_of(rows: list[Group]) -> Any:  # batch_size questions a step
        pairs = [(g.question, c) for g in rows for c in g.candidates]
        batch, _, allowed, start, end = encode(tokenizer, config, pairs)
        labels = torch.tensor([c.label for _, c in pairs])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, starts, ends = joint_logits(encoder, head, batch)
        logits = logits.float()
        # Pointwise, so scores mean something alone (near misses must score low), plus
        # listwise, so the answer outranks its own question's other candidates.
        loss = bce(logits, labels)
        for group in torch.split(torch.arange(len(labels)), [len(g.candidates) for g in rows]):
            z, y = logits[group], labels[group]
            loss = loss + (torch.logsumexp(z, 0) - torch.logsumexp(z[y > 0], 0)) / len(rows)
        starts = starts.float().masked_fill(~allowed, -1e4)
        ends = ends.float().masked_fill(~allowed, -1e4)
        return loss + (ce(starts, start) + ce(ends, end)) / 2

    history, seconds = fine_tune(
        encoder,
        head,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=SEED,
        loss_of=loss_of,
        check=lambda: evaluate(tokenizer, encoder, head, config, checks),
        checkpoint=args.checkpoint,
        check_before=args.check_before,
    )
    return {
        "encoder": encoder,
        "head": head,
        "history": history,
        "questions": len(data),
        "pairs": n_pairs,
        "seconds": seconds,
    }


def _sizes(text: str) -> tuple[int, ...]:
    """--after's comma-separated run sizes."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 12000,12000, got {text!r}") from None
    if any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"run sizes must be positive, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = reader_arguments(
        __doc__.splitlines()[0], questions=20000, batch_size=8, out=READER_DIR
    )
    parser.add_argument("--no-check-before", dest="check_before", action="store_false")
    parser.add_argument(
        "--after",
        type=_sizes,
        default=(),
        help="Skip the questions earlier runs of these many sampled, in order: 12000 after one "
        "run of 12,000, 12000,12000 after two (start it with --init from the last).",
    )
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = ReaderConfig(args.base, args.layers, args.max_length, context=True)
    result = train(args, config)
    trained_on = {
        "data": f"SQuAD v1.1 train ({args.squad.name}), the 'reader' paragraphs of "
        "eval.train.common.paragraphs",
        "questions": result["questions"],
        "pairs": result["pairs"],
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "init": str(args.init) if args.init else None,
        "after": list(args.after),
        "seconds_last_run": result["seconds"],
        "validation": result["history"],
        "command": " ".join(["python -m eval.train.reader", *given]),
    }
    save_reader(result["encoder"], result["head"], config, args.out, trained_on)
    print(json.dumps(result["history"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
