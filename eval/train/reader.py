"""Fine-tunes a sentence reader (qa/answer/readers.py) on SQuAD paragraphs.

    python -m eval.train.reader [--squad PATH] [--layers 6] [--epochs 1] [--context]

Each question of the "reader" paragraphs (eval.sets.squad_training_split: never the reported
sample's paragraphs, never the answerer's) gives a group: the sentence holding the answer, and
as negatives other sentences of its paragraph, sentences of other paragraphs of the same
Wikipedia article (same topic), and the sentences elsewhere that share the most words with the
question. The loss is pointwise (scores must mean something alone) plus listwise (the answer
first in its group). A twelfth of the paragraphs are kept for validation. Writes
qa/answer/weights/reader/ (reader.safetensors and reader.json); about 17 minutes on two cores.
`--context --max-length 128 --out qa/answer/weights/reader_context` makes the second shipped
reader, which also reads the sentence before. What was tried: docs/experiments.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from eval.sets import squad_training_split, swap_term
from eval.train.common import DEFAULT_SQUAD, fine_tune, save_weights
from qa.answer.readers import (
    CONFIG,
    READER_DIR,
    WEIGHTS,
    ReaderConfig,
    build,
    pooled_logits,
)
from qa.ingest.articles import slugify
from qa.text import sentence_spans

SEED = 5
# One question's candidates: (question, [(sentence, the sentence before it in its paragraph
# or None)], [labels]).
Candidate = tuple[str, str | None]
Group = tuple[str, list[Candidate], list[float]]


def groups(
    path: Path, negatives: int = 4, near_misses: int = 2, lexical: int = 2
) -> tuple[list[Group], list[dict]]:  # type: ignore[type-arg]
    """Training groups, and validation groups with their near misses counted apart.

    Negatives: other sentences of the paragraph; sentences of other paragraphs of the same
    article (same topic); and the sentences of other paragraphs that share the most words
    with the question by BM25 (same words, another fact).
    """
    import bm25s
    import numpy as np

    from qa.text import tokenize

    split = squad_training_split(path)
    rng, swap_rng = random.Random(SEED), random.Random(SEED + 1)
    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs = []  # (title, para, sentences, spans)
    for doc in data["data"]:
        for i, para in enumerate(doc["paragraphs"]):
            if split.get(f"{slugify(doc['title'])}-{i}") == "reader":
                text = para["context"]
                spans = sentence_spans(text)
                title = doc["title"].replace("_", " ")
                texts = [text[s:e] for s, e in spans]
                cands = [(t, texts[k - 1] if k else None) for k, t in enumerate(texts)]
                paragraphs.append((title, para, cands, spans))
    owner = [n for n, p in enumerate(paragraphs) for _ in p[2]]
    every = [s for p in paragraphs for s in p[2]]
    bm25 = bm25s.BM25()
    bm25.index([t or [""] for t in tokenize([c[0] for c in every])], show_progress=False)

    def lexical_misses(question: str, n: int, k: int) -> list[Candidate]:
        terms = tokenize([question])[0]
        if not terms or k == 0:
            return []
        scores = bm25.get_scores(terms)
        best = np.argsort(-scores)[: 8 + k]
        return [every[i] for i in best if owner[i] != n and scores[i] > 0][:k]

    train: list[Group] = []
    valid: list[dict] = []  # type: ignore[type-arg]
    for n, (title, para, sentences, spans) in enumerate(paragraphs):
        same_topic = [s for m, p in enumerate(paragraphs) if m != n and p[0] == title for s in p[2]]
        held = rng.random() < 1 / 12
        for qa in para["qas"]:
            starts = {a["answer_start"] for a in qa["answers"]}
            gold = [float(any(s <= a < e for a in starts)) for s, e in spans]
            if not any(gold):
                continue
            question = qa["question"].strip()
            near = rng.sample(same_topic, min(near_misses, len(same_topic)))
            if held:
                answer = next(c[0] for c, g in zip(sentences, gold, strict=True) if g)
                valid.append(
                    {
                        "swapped": swap_term(
                            question, answer, [c[0] for c in same_topic], swap_rng
                        ),
                        "question": question,
                        "sentences": sentences,
                        "gold": gold,
                        "near": near,
                        "lexical": lexical_misses(question, n, lexical),
                    }
                )
                continue
            wrong = [s for s, g in zip(sentences, gold, strict=True) if not g]
            picked = [s for s, g in zip(sentences, gold, strict=True) if g]
            picked += rng.sample(wrong, min(negatives, len(wrong)))
            misses = near + lexical_misses(question, n, lexical)
            labels = [1.0] * int(sum(gold)) + [0.0] * (len(picked) - int(sum(gold)) + len(misses))
            train.append((question, picked + misses, labels))
    rng.shuffle(train)
    return train, valid


def evaluate(tokenizer, encoder, head, config: ReaderConfig, valid: list[dict]) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """Top-1 within the paragraph, how often the answer outscores every near miss of each kind
    (same article; same words), and how often it scores higher for its question than for the
    question with a word swapped."""
    import torch

    encoder.eval()
    top1 = near = lexical = swapped = n_swapped = 0
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for group in valid:
            texts = group["sentences"] + group["near"] + group["lexical"]
            batch = tokenizer(
                [group["question"]] * len(texts),
                [config.passage(*c) for c in texts],
                truncation="longest_first",
                max_length=config.max_length,
                padding=True,
                return_tensors="pt",
            )
            scores = pooled_logits(encoder, head, batch).float().tolist()
            k, m = len(group["sentences"]), len(group["near"])
            best = max(range(k), key=lambda i: scores[i])
            top1 += bool(group["gold"][best])
            answer = max(s for s, g in zip(scores[:k], group["gold"], strict=True) if g)
            near += all(answer > s for s in scores[k : k + m])
            lexical += all(answer > s for s in scores[k + m :])
            if group["swapped"]:
                text = next(c for c, g in zip(group["sentences"], group["gold"], strict=True) if g)
                one = tokenizer(
                    [group["swapped"]],
                    [config.passage(*text)],
                    truncation="longest_first",
                    max_length=config.max_length,
                    return_tensors="pt",
                )
                n_swapped += 1
                swapped += answer > float(pooled_logits(encoder, head, one).float()[0])
    encoder.train()
    n = len(valid)
    return {
        "top1": round(top1 / n, 4),
        "beats_near_misses": round(near / n, 4),
        "beats_lexical_misses": round(lexical / n, 4),
        "beats_swapped_question": round(swapped / max(1, n_swapped), 4),
    }


def train(  # type: ignore[type-arg]
    path: Path, config: ReaderConfig, epochs: int, batch_size: int, lr: float
) -> dict:
    import torch

    torch.manual_seed(SEED)
    tokenizer, encoder, head = build(config)
    data, valid = groups(path)
    n_pairs = sum(len(g[1]) for g in data)
    print(
        f"{len(data)} questions, {n_pairs} pairs, {len(valid)} validation questions",
        file=sys.stderr,
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_of(rows: list[Group]) -> Any:  # batch_size questions a step
        batch = tokenizer(
            [q for q, cands, _ in rows for _ in cands],
            [config.passage(*c) for _, cands, _ in rows for c in cands],
            truncation="longest_first",
            max_length=config.max_length,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.tensor([y for _, _, ys in rows for y in ys])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = pooled_logits(encoder, head, batch).float()
        # Pointwise, so scores mean something alone (near misses must score low), plus
        # listwise, so the answer outranks its own question's other candidates.
        loss = loss_fn(logits, labels)
        for group in torch.split(torch.arange(len(labels)), [len(ys) for _, _, ys in rows]):
            z, y = logits[group], labels[group]
            if y.any():  # a swapped question has no answer to rank first
                loss = loss + (torch.logsumexp(z, 0) - torch.logsumexp(z[y > 0], 0)) / len(rows)
        return loss

    history, seconds = fine_tune(
        encoder,
        head,
        data,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=SEED,
        loss_of=loss_of,
        check=lambda: evaluate(tokenizer, encoder, head, config, valid),
    )
    return {
        "encoder": encoder,
        "head": head,
        "history": history,
        "pairs": n_pairs,
        "seconds": seconds,
    }


def save(result: dict, config: ReaderConfig, folder: Path, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    save_weights(result["encoder"], result["head"], folder)
    meta = {
        "base": config.base,
        "layers": config.layers,
        "max_length": config.max_length,
        "context": config.context,
        "trained_on": {
            "data": "SQuAD v1.1 dev, the 'reader' paragraphs of eval.sets.squad_training_split "
            "(none of the reported --sample 500 --seed 0)",
            "pairs": result["pairs"],
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "seconds": result["seconds"],
            "validation": result["history"],
            "command": args.command,
        },
    }
    (folder / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--base", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument(
        "--context",
        action="store_true",
        help="Also read the sentence before, after a [SEP] (anaphora: 'It was built in...').",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4, help="Questions a step.")
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--out", type=Path, default=READER_DIR)
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    args.command = " ".join(["python -m eval.train.reader", *given])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = ReaderConfig(args.base, args.layers, args.max_length, args.context)
    result = train(args.squad, config, args.epochs, args.batch_size, args.lr)
    save(result, config, args.out, args)
    print(json.dumps(result["history"]))
    print(f"wrote {args.out / WEIGHTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
