"""A comparison is stored as a conversation of one turn; the newest such one can be read back
with its runs, unless it is a blind comparison still waiting for its vote."""

from llm_compare.services.store.conversations import ConversationTurn
from llm_compare.services.store.run_store import RunStore
from tests.support.bench_records import store_bench_run


def turn(conversation_id, number=1, run_ids=(), comparison_id=None):
    return ConversationTurn(
        conversation_id=conversation_id,
        turn=number,
        created_at="2026-12-08T04:00:00+00:00",
        comparison_id=comparison_id or conversation_id,
        prompt="def f():\n    pass",
        system_prompt=None,
        schedule="sequential",
        model_ids=("x", "y"),
        run_ids=tuple(run_ids),
    )


def test_the_last_single_turn_conversation_comes_back_with_its_runs_in_order(private_home):
    store = RunStore()
    assert store.last_single_turn() is None
    runs = [store_bench_run(store, "c1", m, "p", 0, 10.0) for m in ("x", "y")]
    first = turn("c1", run_ids=[r.run_id for r in reversed(runs)])
    store.save_turn(first)
    assert store.last_single_turn() == first
    assert [r.run_id for r in store.runs_by_id(first.run_ids)] == list(first.run_ids)
    assert store.runs_by_id(["no-such-run"]) == []


def test_longer_conversations_and_unvoted_blind_comparisons_are_not_restored(private_home):
    store = RunStore()
    store.save_turn(one := turn("c1"))
    store.save_turn(turn("c2"))
    store.save_turn(turn("c2", number=2))
    store.mark_blind("c3")
    store.save_turn(turn("c3"))
    assert store.last_single_turn() == one
    store.reveal("c3")
    assert store.last_single_turn().conversation_id == "c3"
