"""One comparison in flight: a background thread consumes the engine's events, keeps each
model's live state for the Compare page to draw, and saves every finished run.

The run lives apart from the page script, so switching pages does not stop it, the page can
redraw at its own pace, and Stop is a plain `cancel()` whose cancelled results (partial text
kept) arrive through the engine like any other result and are saved the same way."""

from __future__ import annotations

import dataclasses
import logging
import random
import sqlite3
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import LLMCompareError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import InferenceEvent, InferenceResult
from llm_compare.services.background import BackgroundJob
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.quality.votes import PairVote, pairs_from_ranking
from llm_compare.services.store.conversations import ConversationTurn
from llm_compare.services.store.run_store import RunNotKeptError, RunRecord, RunStore, new_comparison_id

log = logging.getLogger(__name__)

ALIVE_CHECK_INTERVAL_S = 1.0


@dataclass
class ModelRun:
    """What one model has done so far in this comparison."""

    model: ModelInfo
    config: ModelConfig
    status: str = "queued"  # queued | loading | generating | stopping | done
    parts: list[str] = field(default_factory=list)
    completion_tokens: int | None = 0
    result: InferenceResult | None = None
    status_since: float = field(default_factory=time.monotonic)
    # Set when the run could not be stored: what failed and where the run waits (pending file).
    save_note: str | None = None
    # The run's record as one JSON line, when not even the pending file could take it.
    unsaved_record: str | None = None
    # Bumped on every change, so a page redraws only the columns that changed.
    version: int = 0
    # The stored run's id, once saved (in the store or its pending file).
    run_id: str | None = None

    @property
    def text(self) -> str:
        return self.result.text if self.result else "".join(self.parts)


class Comparison(BackgroundJob):
    """Send one prompt to several models. `engine.run` validates at once (ConfigurationError);
    `start()` then runs it on a daemon thread. `cancel()` stops every model; each keeps the text
    it produced and is saved as cancelled."""

    def __init__(
        self,
        engine: InferenceEngine,
        prompt: str,
        models: list[ModelInfo],
        configs: dict[str, ModelConfig],
        *,
        schedule: str = "sequential",
        system_prompt: str | None = None,
        store: RunStore | None = None,
        is_alive: Callable[[], bool] | None = None,
        blind: bool = False,
    ):
        super().__init__("comparison", interrupt=engine.cancel)
        self.engine = engine
        self.prompt, self.system_prompt, self.schedule = prompt, system_prompt, schedule
        self.comparison_id = new_comparison_id()
        self.started_at = datetime.now().astimezone()
        self.store = store or RunStore()
        # The page's session: when it goes away, nobody is watching and the run is stopped.
        self.is_alive = is_alive or (lambda: True)
        self.runs = {m.id: ModelRun(m, configs[m.id]) for m in models}
        self._events = engine.run(prompt, models, configs, schedule=schedule, system_prompt=system_prompt)
        # Blind: the answers go in a random order under "Model A", "Model B", …, and the names,
        # figures and stored runs stay hidden until the user votes (or reveals without a vote).
        self.blind, self.revealed = blind, not blind
        self.blind_order = random.SystemRandom().sample(list(self.runs), len(self.runs))
        self.labels = {mid: f"Model {string.ascii_uppercase[i]}" for i, mid in enumerate(self.blind_order)}
        self.votes: list[PairVote] = []
        if blind:
            try:
                self._store_blind(
                    lambda: self.store.mark_blind(self.comparison_id), "start a blind comparison"
                )
            except LLMCompareError:
                self._events.close()
                raise
        self._lock = threading.Lock()

    # --- for the page -----------------------------------------------------------------------

    def snapshot(self) -> list[ModelRun]:
        """A consistent copy of every model's state, in the order the models were given."""
        with self._lock:
            return [replace(run, parts=list(run.parts)) for run in self.runs.values()]

    def results(self) -> dict[str, InferenceResult]:
        with self._lock:
            return {mid: run.result for mid, run in self.runs.items() if run.result}

    # --- blind votes --------------------------------------------------------------------------

    def vote_pair(self, outcome: str) -> None:
        """The vote on a blind comparison of two: a, b, tie or both_bad (A and B as labelled)."""
        if len(self.blind_order) != 2:
            raise LLMCompareError("with more than two answers, rank them instead of voting on a pair")
        a, b = self.blind_order
        names = self._names()
        self._record(
            [
                PairVote(
                    a,
                    b,
                    outcome,
                    uuid.uuid4().hex,
                    model_a_name=names[a],
                    model_b_name=names[b],
                    **self._ballot_details(),
                )
            ]
        )

    def vote_ranking(self, ranks_by_label: dict[str, int]) -> None:
        """The vote on a blind comparison of several: a rank per label (1 is best; equal ranks tie)."""
        by_label = {label: mid for mid, label in self.labels.items()}
        if sorted(ranks_by_label) != sorted(by_label):
            raise LLMCompareError(f"rank every answer: {', '.join(sorted(by_label))}")
        ranks = {by_label[label]: rank for label, rank in sorted(ranks_by_label.items())}
        self._record(
            pairs_from_ranking(ranks, uuid.uuid4().hex, names=self._names(), **self._ballot_details())
        )

    def reveal(self) -> None:
        """Show the names and figures without a vote."""
        if not self.revealed:
            self._store_blind(lambda: self.store.reveal(self.comparison_id), "reveal it")
            self.revealed = True

    def _names(self) -> dict[str, str]:
        return {mid: run.model.name for mid, run in self.runs.items()}

    def _ballot_details(self) -> dict[str, str]:
        return {
            "comparison_id": self.comparison_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _record(self, votes: list[PairVote]) -> None:
        if not self.blind or self.revealed:
            raise LLMCompareError("this comparison is not waiting for a vote")
        if not self.finished:
            raise LLMCompareError("vote once every model has answered")
        self._store_blind(
            lambda: self.store.record_votes(self.comparison_id, [dataclasses.asdict(v) for v in votes]),
            "store the vote",
        )
        self.votes, self.revealed = votes, True

    def _store_blind(self, write: Callable[[], None], what: str) -> None:
        try:
            write()
        except (sqlite3.Error, OSError) as exc:
            raise LLMCompareError(f"could not {what}: the run store failed ({exc}); try again") from exc

    # --- the consumer thread ------------------------------------------------------------------

    def _work(self) -> None:
        next_alive_check = time.monotonic() + ALIVE_CHECK_INTERVAL_S
        for event in self._events:
            self._apply(event)
            if time.monotonic() >= next_alive_check:
                next_alive_check = time.monotonic() + ALIVE_CHECK_INTERVAL_S
                if not self.stop_requested and not self._alive():
                    log.info("comparison %s: its session has ended; stopping it", self.comparison_id)
                    self.cancel()
        self._save_turn()

    def _save_turn(self) -> None:
        """Store the comparison as a conversation of one turn (a reloaded page shows it again).
        A store that fails loses only that: the runs themselves are saved already."""
        with self._lock:
            run_ids = tuple(run.run_id for run in self.runs.values() if run.run_id)
        turn = ConversationTurn(
            conversation_id=self.comparison_id,
            turn=1,
            created_at=self.started_at.astimezone(UTC).isoformat(timespec="seconds"),
            comparison_id=self.comparison_id,
            prompt=self.prompt,
            system_prompt=self.system_prompt,
            schedule=self.schedule,
            model_ids=tuple(self.runs),
            run_ids=run_ids,
        )
        try:
            self.store.save_turn(turn)
        except Exception:
            log.warning(
                "comparison %s: could not store it as a conversation", self.comparison_id, exc_info=True
            )

    def _wrap_up(self) -> None:
        self._events.close()  # after an error: stops any worker still generating

    def _apply(self, event: InferenceEvent) -> None:
        with self._lock:
            run = self.runs[event.model_id]
            if event.kind == "text":
                run.parts.append(event.text)
                run.completion_tokens = event.completion_tokens
            else:
                run.status = "done" if event.kind == "done" else event.kind
                run.status_since = time.monotonic()
                if event.kind == "done":
                    run.result = event.result
                    run.completion_tokens = event.result.stats.completion_tokens
            run.version += 1
        if event.kind == "done":
            self._save(run, event.result)

    def _save(self, run: ModelRun, result: InferenceResult) -> None:
        """Store the run; when the store cannot take it, say so in the model's column (a locked
        database or a full disk must not end the comparison, nor lose the run)."""
        record = RunRecord.from_result(
            comparison_id=self.comparison_id,
            prompt=self.prompt,
            system_prompt=self.system_prompt,
            schedule=self.schedule,
            model=run.model,
            config=run.config,
            result=result,
        )
        unsaved = None
        try:
            note = self.store.save_or_keep(record)
        except RunNotKeptError as exc:
            note, unsaved = str(exc), record.to_json()
        except Exception as exc:
            log.exception("could not save the run of %s", run.model.name)
            note, unsaved = f"not saved: {exc}", record.to_json()
        with self._lock:
            run.run_id = None if unsaved else record.run_id
            if note:
                run.save_note, run.unsaved_record = note, unsaved
                run.version += 1

    def _alive(self) -> bool:
        try:
            return self.is_alive()
        except Exception:  # an unanswerable question must not end the comparison
            log.warning(
                "comparison %s: cannot tell whether its session is alive", self.comparison_id, exc_info=True
            )
            return True
