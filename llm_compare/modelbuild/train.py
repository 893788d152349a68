"""Train a small LLaMA on token ids on the CPU (fixed steps, seeded) and measure bits per byte."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

# progress(fraction) with fraction in [0, 1].
FractionCallback = Callable[[float], None]


@dataclass(frozen=True)
class TrainSettings:
    """A fixed number of steps, not a time budget: the same settings give the same weights."""

    steps: int
    batch_size: int = 16
    seq_len: int = 128
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class TrainResult:
    steps: int
    seconds: float
    final_loss: float  # mean training loss (nats per token) over the last 10% of steps


def encode_documents(tokenizer: Tokenizer, texts: Sequence[str], eos_id: int) -> np.ndarray:
    """All texts as one id stream, each followed by <|endoftext|> so the model learns where files end."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    total = sum(len(e.ids) + 1 for e in encodings)
    ids = np.empty(total, dtype=np.int64)
    position = 0
    for encoding in encodings:
        n = len(encoding.ids)
        ids[position : position + n] = encoding.ids
        ids[position + n] = eos_id
        position += n + 1
    return ids


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with `threads` intra-op threads, then restore the caller's setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _learning_rate(step: int, settings: TrainSettings) -> float:
    # Linear warm-up, then cosine decay to 10%: the usual recipe, and robust for short runs.
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return settings.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_llama(
    model: LlamaForCausalLM,
    train_ids: np.ndarray,
    settings: TrainSettings,
    progress: FractionCallback | None = None,
) -> TrainResult:
    """Train `model` in place with AdamW on random windows of `train_ids`."""
    if len(train_ids) <= settings.seq_len + 1:
        raise ValueError("not enough training tokens for one window")
    data = torch.from_numpy(train_ids)
    generator = torch.Generator().manual_seed(settings.seed)
    # No weight decay on norms: decaying their gains towards 0 only hurts.
    decayed = [p for p in model.parameters() if p.ndim >= 2]
    not_decayed = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decayed, "weight_decay": settings.weight_decay},
            {"params": not_decayed, "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
        betas=(0.9, 0.95),
    )
    offsets = torch.arange(settings.seq_len + 1)
    losses: list[float] = []
    started = time.perf_counter()
    model.train()
    with torch_threads(settings.threads):
        for step in range(settings.steps):
            starts = torch.randint(
                0, len(data) - settings.seq_len - 1, (settings.batch_size,), generator=generator
            )
            windows = data[starts[:, None] + offsets]
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, settings)
            logits = model(input_ids=windows[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                progress((step + 1) / settings.steps)
    model.eval()
    tail = losses[-max(1, settings.steps // 10) :]
    return TrainResult(settings.steps, time.perf_counter() - started, float(np.mean(tail)))


@torch.no_grad()
def bits_per_byte(
    model: LlamaForCausalLM,
    ids: np.ndarray,
    text_bytes: int,
    seq_len: int,
    threads: int = 2,
    batch_size: int = 16,
) -> float:
    """Cross-entropy in bits over every token of `ids` / `text_bytes` (the UTF-8 size of that text).

    `ids` should start with <|endoftext|> so the first real token is predicted too. The stream is cut
    into windows of `seq_len` predictions; each window restarts the context, which slightly
    overstates the loss (an honest upper bound).
    """
    data = torch.from_numpy(ids)
    n_full = (len(data) - 1) // seq_len
    # Full windows in batches; the remainder (shorter) window on its own.
    windows = [data[i * seq_len : (i + 1) * seq_len + 1] for i in range(n_full)]
    batches = [torch.stack(windows[i : i + batch_size]) for i in range(0, n_full, batch_size)]
    if n_full * seq_len < len(data) - 1:
        batches.append(data[n_full * seq_len :][None, :])
    total_nats = 0.0
    with torch_threads(threads):
        for batch in batches:
            logits = model(input_ids=batch[:, :-1]).logits.float()
            total_nats += torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="sum"
            ).item()
    return total_nats / math.log(2) / text_bytes
