"""What the trainers share: the SQuAD file they learn from, the fine-tuning loop every reader
trains with, and how a reader's weights are saved for qa/answer/readers.py to load."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.answer.readers import FROZEN, WEIGHTS

DEFAULT_SQUAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "squad-v1.1-dev.json"


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
