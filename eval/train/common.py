"""What the trainers share: the SQuAD paragraphs they may learn from (SQuAD train, never a
paragraph of SQuAD dev), the fine-tuning loop every reader trains with, and how a reader's
weights are saved for qa/answer/readers.py to load."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.sets import PUBLIC_DATA, SQUAD_EVALUATION
from qa.answer.readers import CONFIG, FROZEN, WEIGHTS, ReaderConfig
from qa.ingest.articles import slugify

log = logging.getLogger(__name__)
DEFAULT_SQUAD = PUBLIC_DATA / "squad-v1.1-train.json"
# The answerer learns from the paragraphs of this many Wikipedia articles (2,520 paragraphs of
# SQuAD train, about the size of the SQuAD dev index it is measured on), at most a third of a
# file's articles; the span reader from the rest.
ANSWERER_TITLES = 60
SPLIT_SEED = 23


class DevLeak(ValueError):
    """A trainer was given a paragraph of the evaluation set."""


@dataclass(frozen=True)
class Paragraph:
    """One SQuAD paragraph a trainer may learn from."""

    id: str  # its article id, as eval.sets.load_squad names it
    title: str
    text: str
    qas: tuple[dict, ...]  # type: ignore[type-arg]
    part: str  # "reader" or "answerer": which trainer learns from it


def paragraphs(path: Path, dev: Path | None = SQUAD_EVALUATION) -> list[Paragraph]:
    """Every paragraph of a SQuAD file, each given to one trainer by its Wikipedia article:
    ANSWERER_TITLES articles (at most a third) to the answerer (eval.train.answerer), the rest
    to the span reader (eval.train.spans), so the answerer sees the reader's scores as they are
    on unseen text.

    Raises DevLeak if any paragraph (or article title) is also in `dev`, the evaluation set:
    every trainer reads its data through here.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if dev is not None and dev.exists():
        held = json.loads(dev.read_text(encoding="utf-8"))["data"]
        texts = {" ".join(p["context"].split()) for d in held for p in d["paragraphs"]}
        dev_titles = {d["title"] for d in held}
        for doc in data["data"]:
            leaked = doc["title"] in dev_titles or any(
                " ".join(p["context"].split()) in texts for p in doc["paragraphs"]
            )
            if leaked:
                raise DevLeak(
                    f"{path} holds {doc['title']!r} of the evaluation set {dev}: "
                    "train on SQuAD train"
                )
    elif dev is not None:
        log.warning("%s not found: cannot check that no evaluation paragraph is trained on", dev)
    titles = sorted({doc["title"] for doc in data["data"]})
    random.Random(SPLIT_SEED).shuffle(titles)
    answerer = set(titles[: min(ANSWERER_TITLES, len(titles) // 3)])
    return [
        Paragraph(
            id=f"{slugify(doc['title'])}-{i}",
            title=doc["title"].replace("_", " "),
            text=para["context"],
            qas=tuple(para["qas"]),
            part="answerer" if doc["title"] in answerer else "reader",
        )
        for doc in data["data"]
        for i, para in enumerate(doc["paragraphs"])
    ]


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
    checkpoint: Path | None = None,
    checkpoint_every: int = 250,
    check_before: bool = True,
    size: Callable[[Any], int] | None = None,
) -> tuple[list[dict], int]:  # type: ignore[type-arg]
    """The loop every reader trains with: word pieces frozen, AdamW with a linear warm-up over
    the first twentieth of the steps and a linear decay after, gradients clipped to norm 1,
    progress every 100 steps, and `check()` (validation figures) before training (unless
    check_before is False) and after each epoch. `loss_of(rows)` is the loss of one batch of
    `data`. With `checkpoint`, the whole state (weights, optimizer, schedule, step) is saved
    there every `checkpoint_every` steps, and a run given an existing checkpoint resumes from it:
    the data order is fixed by the seed, so it goes on with the batch after the saved step.
    With `size` (an item's length, in any unit), each epoch's batches hold items of about the
    same length (batches_by_size), so a batch pads little. Returns (history, seconds of this
    run)."""
    import torch

    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * ((len(data) + batch_size - 1) // batch_size)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    history: list[dict] = []  # type: ignore[type-arg]
    done = 0
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["steps"] != steps:
            raise ValueError(f"{checkpoint} is of a run of {state['steps']} steps, not {steps}")
        encoder.load_state_dict(state["encoder"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if "rng" in state:
            torch.set_rng_state(state["rng"])  # dropout goes on as it would have
        done, history = state["step"], state["history"]
        print(f"resuming {checkpoint} at step {done}/{steps}", file=sys.stderr)
    elif check_before:
        history = [{"epoch": 0, **check()}]
        print(f"before training: {history[0]}", file=sys.stderr)
    started, step = time.perf_counter(), 0
    encoder.train()
    for epoch in range(1, epochs + 1):
        random.Random(seed + epoch).shuffle(data)
        batches = (
            [data[i : i + batch_size] for i in range(0, len(data), batch_size)]
            if size is None
            else batches_by_size(data, batch_size, size, random.Random(seed + epoch))
        )
        for batch in batches:
            step += 1
            if step <= done:
                continue
            loss = loss_of(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            if step % 100 == 0:
                elapsed = time.perf_counter() - started
                print(
                    f"  step {step}/{steps}  loss {loss.item():.3f}  {elapsed:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            if checkpoint is not None and step % checkpoint_every == 0:
                _save_checkpoint(
                    checkpoint, encoder, head, optimizer, schedule, step, steps, history
                )
        if step > done:
            history.append({"epoch": epoch, **check()})
            print(f"after epoch {epoch}: {history[-1]}", file=sys.stderr)
            if checkpoint is not None:
                _save_checkpoint(
                    checkpoint, encoder, head, optimizer, schedule, step, steps, history
                )
    return history, round(time.perf_counter() - started)


# Items sorted by length together: enough batches that most find neighbours of about their
# length, few enough that a stretch of the epoch still mixes many questions.
SIZE_POOL_BATCHES = 50


def batches_by_size(
    data: list[Any], batch_size: int, size: Callable[[Any], int], rng: random.Random
) -> list[list[Any]]:
    """The (shuffled) items in batches of about one length each, in a random order: each
    stretch of SIZE_POOL_BATCHES batches of items is sorted by `size` and cut into batches, then
    all batches are shuffled. A batch is padded to its longest item, so batches of like items
    compute little padding (windows of one sentence to a whole paragraph otherwise pad most
    rows); every item is still in exactly one batch, and the order is fixed by rng, so a run
    resumes alike."""
    pool = SIZE_POOL_BATCHES * batch_size
    batches: list[list[Any]] = []
    for at in range(0, len(data), pool):
        ordered = sorted(data[at : at + pool], key=size)
        batches.extend(ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size))
    rng.shuffle(batches)
    return batches


def _save_checkpoint(  # type: ignore[no-untyped-def]
    path: Path, encoder, head, optimizer, schedule, step: int, steps: int, history: list
) -> None:
    """The run's whole state (with torch's random state, so dropout resumes as it would have
    gone on), written to a temporary file first so a kill leaves the last checkpoint whole."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "encoder": encoder.state_dict(),
        "head": head.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
        "steps": steps,
        "history": history,
        "rng": torch.get_rng_state(),
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def reader_arguments(description: str, *, questions: int, batch_size: int, out: Path) -> Any:
    """The argument parser a reader trainer starts from (its own options are added on)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--base", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--questions", type=int, default=questions, help="Sampled a run.")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--checkpoint", type=Path, help="Save here; resume from here.")
    parser.add_argument("--init", type=Path, help="A reader folder to start from.")
    parser.add_argument("--out", type=Path, default=out)
    return parser


def load_init(encoder: Any, head: Any, folder: Path) -> None:
    """Starts a reader from a trained one's weights (what save_weights wrote) instead of the
    base model: a later run goes on learning from other questions. A head with more outputs
    than the trained one's (a verdict) starts its extra outputs at zero."""
    import torch
    from safetensors.torch import load_file

    state = load_file(folder / WEIGHTS)
    trained = {k[5:]: v.float() for k, v in state.items() if k.startswith("head.")}
    rows = trained["weight"].shape[0]
    if rows < head.weight.shape[0]:
        # A reader gaining a verdict: the span outputs go on from the trained reader's, the
        # verdict's starts at zero ("no opinion").
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.weight[:rows] = trained["weight"]
            head.bias[:rows] = trained["bias"]
    else:
        head.load_state_dict(trained)
    encoder.load_state_dict(
        {k: v.float() for k, v in state.items() if not k.startswith("head.")}, strict=False
    )


def save_reader(
    encoder: Any, head: Any, config: ReaderConfig, folder: Path, trained_on: dict[str, Any]
) -> None:
    """The weights (save_weights) and reader.json: the config readers.py restores, and how the
    reader was trained."""
    save_weights(encoder, head, folder)
    meta = {
        "base": config.base,
        "layers": config.layers,
        "max_length": config.max_length,
        "task": config.task,
        "reads": config.reads,
        "verdict": config.verdict,
        "trained_on": trained_on,
    }
    (folder / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {folder / WEIGHTS}")


def save_weights(encoder: Any, head: Any, folder: Path) -> None:
    """What fine-tuning changed (all but the frozen word pieces), as readers.py loads it."""
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
