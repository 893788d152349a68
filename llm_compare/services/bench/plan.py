"""The order of a benchmark's runs: warm-ups, then repetitions interleaved so drift spreads evenly.

Each repetition visits every prompt and, for each prompt, every model before the next repetition
begins; both orders rotate by one each repetition, so no model always runs first or right after
a prompt change. Models interleave only within a group that fits in memory together; groups run
one after the other. Repetition r of every model uses seed S + r.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedRun:
    model_id: str
    prompt_id: str
    repeat: int  # 0-based; for a warm-up, its number among that model's warm-ups
    seed: int
    warmup: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies a counted run, so a resumed benchmark can skip the ones it has."""
        return (self.model_id, self.prompt_id, self.repeat)


def memory_groups(
    model_ids: Sequence[str],
    estimated_bytes: dict[str, int],
    budget_bytes: int,
    gpu_bytes: dict[str, dict[int, int]] | None = None,
    gpu_free_bytes: dict[int, int] | None = None,
) -> list[list[str]]:
    """Consecutive models packed into groups whose estimated memory fits the budget together, and
    whose GPU memory (`gpu_bytes`: model -> GPU index -> bytes) fits what each GPU has free.

    A model too big for the budget alone gets a group of its own (loading it will say why it
    cannot run, in its own row)."""
    gpu_bytes, gpu_free_bytes = gpu_bytes or {}, gpu_free_bytes or {}
    groups: list[list[str]] = []
    used = 0
    used_on: dict[int, int] = {}
    for model_id in model_ids:
        size = estimated_bytes.get(model_id, 0)
        on_gpus = gpu_bytes.get(model_id, {})
        fits_gpus = all(
            used_on.get(index, 0) + need <= gpu_free_bytes.get(index, need) for index, need in on_gpus.items()
        )
        if groups and used + size <= budget_bytes and fits_gpus:
            groups[-1].append(model_id)
            used += size
            for index, need in on_gpus.items():
                used_on[index] = used_on.get(index, 0) + need
        else:
            groups.append([model_id])
            used, used_on = size, dict(on_gpus)
    return groups


def schedule(
    groups: Sequence[Sequence[str]], prompt_ids: Sequence[str], repeats: int, warmups: int, seed: int
) -> list[PlannedRun]:
    runs = []
    for group in groups:
        for model_id in group:
            runs += _warmups(model_id, prompt_ids, warmups, seed)
        for repeat in range(repeats):
            models = _rotated(group, repeat)
            for prompt_id in _rotated(prompt_ids, repeat):
                runs += [PlannedRun(m, prompt_id, repeat, seed + repeat) for m in models]
    return runs


def remaining(plan: Sequence[PlannedRun], done: Iterable[tuple[str, str, int]]) -> list[PlannedRun]:
    """What a resumed benchmark still runs: the counted runs not done yet, in the plan's order,
    with each model's warm-ups again right before its first one (the model is loaded afresh)."""
    done = set(done)
    warmups_of: dict[str, list[PlannedRun]] = {}
    for run in plan:
        if run.warmup:
            warmups_of.setdefault(run.model_id, []).append(run)
    result, warmed = [], set()
    for run in plan:
        if run.warmup or run.key in done:
            continue
        if run.model_id not in warmed:
            warmed.add(run.model_id)
            result += warmups_of.get(run.model_id, [])
        result.append(run)
    return result


def order_note(groups: Sequence[Sequence[str]]) -> str:
    """How the runs were ordered, in words for the results."""
    if len(groups) <= 1:
        return "interleaved: every repetition visits every model"
    if all(len(g) == 1 for g in groups):
        return "model by model: the models do not fit in memory together"
    return f"in {len(groups)} groups that fit in memory together, interleaved within each group"


def _warmups(model_id: str, prompt_ids: Sequence[str], warmups: int, seed: int) -> list[PlannedRun]:
    return [
        PlannedRun(model_id, prompt_ids[i % len(prompt_ids)], i, seed, warmup=True) for i in range(warmups)
    ]


def _rotated(items: Sequence[str], by: int) -> list[str]:
    shift = by % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])
