"""A conversation's turns as stored: what was asked, of which models, and the runs that answered.
A comparison today is a conversation of one turn; the page restores the last one after a reload."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ConversationTurn:
    conversation_id: str
    turn: int  # 1 for the first
    created_at: str  # UTC, ISO 8601
    comparison_id: str
    prompt: str
    system_prompt: str | None
    schedule: str
    model_ids: tuple[str, ...]  # in the order the models were given
    run_ids: tuple[str, ...]  # the stored runs of this turn (a model that was not saved has none)

    def row(self) -> tuple:
        return (
            self.conversation_id,
            self.turn,
            self.created_at,
            self.comparison_id,
            self.prompt,
            self.system_prompt,
            self.schedule,
            json.dumps(list(self.model_ids)),
            json.dumps(list(self.run_ids)),
        )

    @classmethod
    def of_row(cls, row: tuple) -> ConversationTurn:
        *head, model_ids, run_ids = row
        return cls(*head, tuple(json.loads(model_ids)), tuple(json.loads(run_ids)))
