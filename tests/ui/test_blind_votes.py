"""Blind mode on the Compare page: answers under Model A, B, … with names, figures, the sidebar's
list and the Results page's rows hidden until the vote, which is stored with the runs."""

import shutil

import pytest
from dashboard_testing import RUN_TIMEOUT_S, no_exception, quick_config, rendered, select

from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.quality.votes import PairVote
from llm_compare.services.store.run_store import RunStore

pytestmark = pytest.mark.slow

NAMES = ("okapi", "zebra")  # no tiny model writes these words


@pytest.fixture
def zoo_dir(tmp_path, tiny_dir):
    root = tmp_path / "zoo"
    root.mkdir()
    shutil.copytree(tiny_dir / "tiny-llama", root / "okapi")
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / "zebra.gguf")
    for model in ModelManager([root]).scan():
        ConfigManager().save(model, quick_config())
    return root


def shown_text(node) -> str:
    """Every value and label the page (or sidebar) shows, as one string."""
    parts = []
    for name in ("value", "label", "body"):
        value = getattr(node, name, None) if name != "value" or not hasattr(node, "children") else None
        if isinstance(value, str):
            parts.append(rendered(value))
    for child in getattr(node, "children", {}).values():
        parts.append(shown_text(child))
    return "\n".join(parts)


def blind_run(make_app, zoo_dir):
    at = select(make_app(zoo_dir), *NAMES)
    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input("def main():").run()
    at.toggle(key="blind").set_value(True).run()
    return run_and_wait(at)


def run_and_wait(at):
    """Press Run; the page shows a waiting note until every model has finished, then the answers."""
    at.button(key="run").click().run()
    no_exception(at)
    if not at.session_state["comparison"].finished:
        assert "Blind comparison: " in at.info[0].value
        for name in NAMES:
            assert name not in shown_text(at.main) and name not in shown_text(at.sidebar)
    at.session_state["comparison"].wait(RUN_TIMEOUT_S)
    at.run()
    no_exception(at)
    assert [b for b in at.button if b.key == "vote"], shown_text(at.main)  # the vote form, every answer in
    return at


def test_names_and_figures_are_hidden_until_the_vote_then_shown(make_app, zoo_dir):
    at = blind_run(make_app, zoo_dir)
    page, sidebar = shown_text(at.main), shown_text(at.sidebar)
    assert [rendered(m.value) for m in at.markdown if m.value.startswith("####")] == ["Model A", "Model B"]
    assert len([t.value for t in at.text if t.value]) == 2  # both answers are shown
    for name in NAMES:
        assert name not in page and name not in sidebar
    assert "TTFT" not in page and not at.dataframe  # no stats line, no summary
    assert "Hidden until you vote" in sidebar
    runs = RunStore().list()
    assert len(runs) == 2  # stored as they finished, hidden from view

    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert not at.dataframe and all(name not in shown_text(at.main) for name in NAMES)
    assert "2 runs of blind comparisons hidden until you vote" in shown_text(at.main)

    at.switch_page("pages/compare.py").run()
    at.radio(key="blind_vote").set_value("a").run()
    at.button(key="vote").click().run()
    no_exception(at)
    headers = [rendered(m.value) for m in at.markdown if m.value.startswith("####")]
    assert sorted(h.split(" · ")[0] for h in headers) == ["Model A", "Model B"]
    assert sorted(h.split(" · ")[1] for h in headers) == sorted(NAMES)
    model_a = headers[0].split(" · ")[1]
    assert len([c for c in at.caption if c.value.startswith("TTFT")]) == 2 and at.dataframe
    assert all(name in shown_text(at.sidebar) for name in NAMES)
    [vote] = [PairVote(**row) for row in RunStore().votes()]
    by_name = {r.model["name"]: r.model["id"] for r in runs}
    assert (vote.model_a, vote.outcome, vote.kind) == (by_name[model_a], "a", "pair")
    assert {vote.model_a_name, vote.model_b_name} == set(NAMES) and vote.comparison_id == runs[
        0
    ].comparison_id

    at.switch_page("pages/results.py").run()
    assert sorted(at.dataframe[0].value["model"]) == sorted(NAMES)


def test_three_answers_are_ranked_and_stored_as_their_three_pairs(make_app, zoo_dir, tiny_dir):
    shutil.copy(tiny_dir / "tiny-llama-q8_0.gguf", zoo_dir / "quagga.gguf")
    ConfigManager().save(
        next(m for m in ModelManager([zoo_dir]).scan() if m.name == "quagga"), quick_config()
    )
    at = select(make_app(zoo_dir), *NAMES, "quagga")
    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input("def main():").run()
    at.toggle(key="blind").set_value(True).run()
    run_and_wait(at)
    assert "quagga" not in shown_text(at.main)
    # No rank is preset, so a quick click on Vote records nothing and asks for the ranks.
    assert [at.selectbox(key=f"rank:Model {x}").value for x in "ABC"] == [None, None, None]
    at.button(key="vote").click().run()
    assert [e.value for e in at.error] == ["give every answer a rank first"] and not RunStore().votes()
    at.selectbox(key="rank:Model A").set_value(3).run()
    at.selectbox(key="rank:Model B").set_value(1).run()
    at.button(key="vote").click().run()
    assert [e.value for e in at.error] == ["give every answer a rank first"] and not RunStore().votes()
    at.selectbox(key="rank:Model C").set_value(1).run()
    at.button(key="vote").click().run()
    no_exception(at)
    votes = [PairVote(**row) for row in RunStore().votes()]
    assert (
        len(votes) == 3 and len({v.ballot_id for v in votes}) == 1 and {v.kind for v in votes} == {"ranking"}
    )
    headers = {
        rendered(m.value).split(" · ")[0]: rendered(m.value).split(" · ")[1]
        for m in at.markdown
        if m.value.startswith("####")
    }
    ids = {r.model["name"]: r.model["id"] for r in RunStore().list()}
    outcome = {(v.model_a, v.model_b): v.outcome for v in votes}
    a, b, c = (ids[headers[label]] for label in ("Model A", "Model B", "Model C"))
    assert outcome == {(a, b): "b", (a, c): "b", (b, c): "tie"}


def test_voting_without_a_choice_is_one_clear_line_and_reveal_skips_the_vote(make_app, zoo_dir):
    at = blind_run(make_app, zoo_dir)
    at.button(key="vote").click().run()
    assert [e.value for e in at.error] == ["choose A is better, B is better, tie or both bad first"]
    assert all(name not in shown_text(at.main) for name in NAMES)
    at.button(key="reveal").click().run()
    no_exception(at)
    assert all(name in shown_text(at.main) for name in NAMES)
    assert RunStore().votes() == [] and RunStore().hidden_comparisons() == set()
