"""Fine-tunes the sentence reader (qa/reader.py) on SQuAD paragraphs.

    python -m eval.train_reader [--squad PATH] [--layers 6] [--epochs 1]

Each question of the "reader" paragraphs (eval.sets.squad_training_split: never the reported
sample's paragraphs, never the answerer's) gives a group: the sentence holding the answer, and
as negatives other sentences of its paragraph, sentences of other paragraphs of the same
Wikipedia article (same topic), and the sentences elsewhere that share the most words with the
question. The loss is pointwise (scores must mean something alone) plus listwise (the answer
first in its group). A twelfth of the paragraphs are kept for validation. Writes
qa/reader/reader.safetensors and reader.json. About 17 minutes on two cores.

Tried and not the default: `--swap-share 0.5 --titles`, where half the questions also come back
with their most specific word that the answer holds swapped for another word of the article,
paired with the answer as a negative (a question about what an article touches but does not
say), and the reader reads "title: sentence". It turned down some news near misses the default
answers, but ranked SQuAD sentences worse (0.835 against 0.843 top-1 on the answerer's
paragraphs) and did no better on the seed set. Nor did `--swap-share 0.5` alone, trained on
four fifths of the paragraphs not in the test sample (`squad_training_split(reader_share=0.8)`)
with the answerer retrained on the last fifth: there its answers held the gold span as often as
the default's (0.837 against 0.839 before abstaining) and it declined more swapped near misses
(0.67 against 0.51, both answerers learning from them at share 0.5), but it scored
paraphrased answers low too, and turned down the seed set's "who denied awareness of the
airstrikes?" (the article says "not aware").

The second shipped reader, qa/reader_context/, is `--context --max-length 128 --out
qa/reader_context`: it reads the sentence before too ("It was built in 1850" after "The tower
..."). Validation top-1 0.868 (0.873 without). Alone in place of the first it lifted SQuAD
answers of `--sample 500 --seed 0` to 0.780 (0.758) but the seed set fell to 0.825 (0.889): it
answered four more of its near misses. The answerer reads with it only when the first reader
leaves it unsure (eval/train_answerer.py). A three-layer one (`--layers 3`, validation top-1
0.836), to make reading with both cheaper, did worse on every measure when both read every
question: SQuAD 0.740, seeds 0.794.

Nor did `--epochs 2` (~27 min): validation top-1 the same 0.873, lexical misses beaten 0.880
against 0.859. With the answerer retrained on it, the trainer's held-out checks all improved
(cascade accuracy 0.833 against 0.825, off-index declined 0.879 against 0.853, swapped 0.485
against 0.438, answerable answered with the answer 0.809 against 0.810) and SQuAD answers rose
to 0.760 (0.806 never abstaining; EM 0.492), but its calibrated thresholds rose (0.39 and 0.35
against 0.28 and 0.30) and the seed set fell to 0.857: it declined "who denied awareness of the
airstrikes?" (confidence 0.33) and "who were many of the victims in Atme?", and answered the
same news near misses as before.

Nor did a joint reader (tried 2026-11-29, its code not kept): this reader with a span head too
(start and end logits a word piece, the sentence logit pooled from a third channel), trained
in one pass on the same groups, each candidate labelled with its answer's word pieces or the
null answer, max length 128, ~27 min. Its margin "best span against no span" came free with the
sentence logit, to weigh in the judges. Validation top-1 0.864 (0.873), lexical misses beaten
0.891 (0.859), but its spans were weaker than the span reader's (EM 0.486, F1 0.662 in held-out
answer sentences; span given in 0.770 of them). With the answerer retrained on it (its logits
and span margins in both judges' second stage and confidence): cascade accuracy 0.820 against
0.825 at 0.793 answerable answered; seed set 0.841 (it declined "who denied awareness of the
airstrikes?" again).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.sets import squad_training_split, swap_term
from eval.train_answerer import DEFAULT_SQUAD
from qa.articles import slugify
from qa.chunking import sentence_spans
from qa.reader import CONFIG, FROZEN, READER_DIR, WEIGHTS, ReaderConfig, build, pooled_logits

SEED = 5
# One question's candidates: (question, [(sentence, its article's title, the sentence before
# it in its paragraph or None)], [labels]).
Candidate = tuple[str, str, str | None]
Group = tuple[str, list[Candidate], list[float]]


def groups(
    path: Path, negatives: int = 4, near_misses: int = 2, lexical: int = 2, swap_share: float = 0.0
) -> tuple[list[Group], list[dict]]:  # type: ignore[type-arg]
    """Training groups, and validation groups with their near misses counted apart.

    Negatives: other sentences of the paragraph; sentences of other paragraphs of the same
    article (same topic); and the sentences of other paragraphs that share the most words
    with the question by BM25 (same words, another fact).
    """
    import bm25s
    import numpy as np

    from qa.retrieval import tokenize

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
                cands = [(t, title, texts[k - 1] if k else None) for k, t in enumerate(texts)]
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
            answer = [c for c, g in zip(sentences, gold, strict=True) if g]
            if swap_share > 0 and rng.random() < swap_share:
                swapped = swap_term(question, answer[0][0], [c[0] for c in same_topic], rng)
                if swapped:
                    train.append((swapped, answer, [0.0] * len(answer)))
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


def fine_tune(  # type: ignore[no-untyped-def]
    encoder,
    head,
    data: list,  # type: ignore[type-arg]
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    loss_of: Callable[[list], Any],  # type: ignore[type-arg]
    check: Callable[[], dict],  # type: ignore[type-arg]
) -> tuple[list[dict], int]:  # type: ignore[type-arg]
    """The loop every reader trains with: word pieces frozen, AdamW with a linear warm-up over
    the first twentieth of the steps and a linear decay after, gradients clipped to norm 1,
    progress every 100 steps, and `check()` (validation figures) before training and after each
    epoch. `loss_of(rows)` is the loss of one batch of `data`. Returns (history, seconds)."""
    import torch

    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * ((len(data) + batch_size - 1) // batch_size)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    history = [{"epoch": 0, **check()}]
    print(f"before training: {history[0]}", file=sys.stderr)
    started, step = time.perf_counter(), 0
    encoder.train()
    for epoch in range(1, epochs + 1):
        random.Random(seed + epoch).shuffle(data)
        for i in range(0, len(data), batch_size):
            loss = loss_of(data[i : i + batch_size])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 100 == 0:
                elapsed = time.perf_counter() - started
                print(
                    f"  step {step}/{steps}  loss {loss.item():.3f}  {elapsed:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        history.append({"epoch": epoch, **check()})
        print(f"after epoch {epoch}: {history[-1]}", file=sys.stderr)
    return history, round(time.perf_counter() - started)


def train(  # type: ignore[type-arg]
    path: Path, config: ReaderConfig, epochs: int, batch_size: int, lr: float, swap_share: float
) -> dict:
    import torch

    torch.manual_seed(SEED)
    tokenizer, encoder, head = build(config)
    data, valid = groups(path, swap_share=swap_share)
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


def save_weights(encoder: Any, head: Any, folder: Path) -> None:
    """What fine-tuning changed (all but the frozen word pieces), as qa/reader.py loads it."""
    import torch
    from safetensors.torch import save_file

    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in encoder.state_dict().items()
        if k != FROZEN
    }
    state |= {f"head.{k}": v.detach().float().contiguous() for k, v in head.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / WEIGHTS))


def save(result: dict, config: ReaderConfig, folder: Path, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    save_weights(result["encoder"], result["head"], folder)
    meta = {
        "base": config.base,
        "layers": config.layers,
        "max_length": config.max_length,
        "titles": config.titles,
        "context": config.context,
        "trained_on": {
            "data": "SQuAD v1.1 dev, the 'reader' paragraphs of eval.sets.squad_training_split "
            "(none of the reported --sample 500 --seed 0)",
            "pairs": result["pairs"],
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "swap_share": args.swap_share,
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
        "--titles", action="store_true", help="Read 'title: sentence', not the sentence alone."
    )
    parser.add_argument(
        "--context",
        action="store_true",
        help="Also read the sentence before, after a [SEP] (anaphora: 'It was built in...').",
    )
    parser.add_argument(
        "--swap-share",
        type=float,
        default=0.0,
        help="Share of questions that also come back with a word swapped, as near misses.",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4, help="Questions a step.")
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--out", type=Path, default=READER_DIR)
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    args.command = " ".join(["python -m eval.train_reader", *given])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = ReaderConfig(args.base, args.layers, args.max_length, args.titles, args.context)
    result = train(args.squad, config, args.epochs, args.batch_size, args.lr, args.swap_share)
    save(result, config, args.out, args)
    print(json.dumps(result["history"]))
    print(f"wrote {args.out / WEIGHTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
