"""The Results page's queries, filtered, counted and paged in SQL, find exactly the runs a plain
Python filter of the same records finds, in the same newest-first order."""

import itertools
import random

import pytest

from llm_compare.services.store.run_store import RunQuery, RunStore
from tests.support.synthetic_runs import synthetic_runs


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    records = list(synthetic_runs(400, seed=3))
    random.Random(1).shuffle(records)  # stored in no particular order: the order comes from the times
    store = RunStore(tmp_path_factory.mktemp("home"))
    store.save_many(records)
    return store, records


def python_filter(records, query: RunQuery):
    """The same filters, written again over the records themselves."""
    found = [
        r
        for r in records
        if (not query.models or r.model["name"] in query.models)
        and (not query.backends or r.model["type"] in query.backends)
        and (not query.finish_reasons or r.stats["finish_reason"] in query.finish_reasons)
        and (query.comparison_ids is None or r.comparison_id in query.comparison_ids)
        and (query.source != "comparisons" or not r.bench)
        and (query.source != "benchmarks" or bool(r.bench))
    ]
    return sorted(found, key=lambda r: r.created_at, reverse=True)


QUERIES = [
    RunQuery(),
    RunQuery(models=("demo-starter-f32",)),
    RunQuery(models=("demo-starter", "demo-medium-q8_0"), finish_reasons=("stop", "length")),
    RunQuery(backends=("pytorch",), source="benchmarks"),
    RunQuery(finish_reasons=("error",), source="comparisons"),
    RunQuery(comparison_ids=("cmp000000003", "cmp000000010", "bench0000002")),
    RunQuery(comparison_ids=()),  # "this session" before anything ran in it
    RunQuery(models=("no such model",)),
]


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_count_and_pages_match_a_python_filter(stored, query):
    store, records = stored
    expected = [r.run_id for r in python_filter(records, query)]
    assert store.count(query) == len(expected)
    pages = [store.page(query, offset, 37) for offset in range(0, len(expected) + 37, 37)]
    assert all(len(page) == 37 for page in pages[:-2]) and pages[-1] == []
    assert [r.run_id for r in itertools.chain.from_iterable(pages)] == expected
    assert [r.run_id for r in store.records(query)] == expected


def test_chart_columns_hold_each_runs_figures(stored):
    store, records = stored
    by_id = {r.run_id: r for r in records}
    query = RunQuery(backends=("gguf",))
    expected = python_filter(records, query)[:50]
    rows = store.figures(query, ("run_id", "model_name", "decode_tps", "ttft_s", "busy", "finish_reason"), 50)
    assert [row["run_id"] for row in rows] == [r.run_id for r in expected]
    for row in rows:
        record = by_id[row["run_id"]]
        assert (
            row["model_name"] == record.model["name"]
            and row["finish_reason"] == record.stats["finish_reason"]
        )
        assert row["decode_tps"] == record.stats["decode_tps"] and row["ttft_s"] == record.stats["ttft_s"]
        assert row["busy"] == (None if record.stats["busy"] is None else int(record.stats["busy"]))


def test_facets_list_what_can_be_filtered_on(stored):
    store, records = stored
    facets = store.facets()
    assert facets.total == len(records) and (facets.unreadable, facets.repaired) == (0, 0)
    assert facets.models == sorted({r.model["name"] for r in records})
    assert facets.backends == ["gguf", "pytorch"]
    assert facets.finish_reasons == ["cancelled", "error", "length", "stop"]
