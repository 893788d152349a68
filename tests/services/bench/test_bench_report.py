"""A benchmark's tables: the Markdown a user pastes, and the aggregate rows of CSV and JSON."""

from markdown_it import MarkdownIt

from llm_compare.services.bench.aggregate import CountedRun, compare_pairs, figure_summaries, pass_rates
from llm_compare.services.bench.report import ModelLabel, aggregate_rows, markdown_table


def runs():
    out = []
    for r in range(5):
        out.append(
            CountedRun(
                "a",
                "p",
                r,
                {"decode_tps": 100.0 + r, "ttft_s": 0.010, "peak_rss_bytes": 2**20 * 50},
                False,
                1,
                1,
            )
        )
        out.append(CountedRun("b", "p", r, {"decode_tps": 50.0, "ttft_s": 0.020 + r / 1000}, False, 0, 1))
    return out


LABELS = {"a": ModelLabel("tiny | f32\nx", "gguf"), "b": ModelLabel("tiny-hf", "pytorch")}


def table_cells(markdown: str) -> list[list[str]]:
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content.replace("\\|", "|"))
        elif token.type == "tr_close":
            rows.append(row)
            row = None
    return rows


def test_markdown_table_parses_with_one_row_per_model_and_names_kept_whole():
    data = runs()
    text = markdown_table(
        figure_summaries(data),
        pass_rates(data),
        compare_pairs(data, {"a": "A", "b": "B"}, lambda a, b: True),
        LABELS,
    )
    header, *body = table_cells(text)
    assert header == [
        "model",
        "backend",
        "n",
        "decode tok/s",
        "TTFT ms",
        "prefill tok/s",
        "peak RSS MiB",
        "checks passed",
    ]
    assert [row[:3] for row in body] == [["tiny | f32\\nx", "gguf", "5"], ["tiny-hf", "pytorch", "5"]]
    assert body[0][3] == "102.0 (100.0–104.0)"  # median (min–max) of 100..104
    assert body[0][4] == "10.0 (10.0–10.0)"
    assert body[0][6] == "50.0 (50.0–50.0)"
    assert body[1][6] == "–"  # never measured: empty, not zero
    assert body[0][7].startswith("5/5 (") and body[1][7].startswith("0/5 (")
    assert "- A decodes 2.04× faster than B, 95 % CI" in text
    assert "- A reaches its first token 2.20× sooner than B, 95 % CI" in text


def test_aggregate_rows_hold_every_statistic_per_model_prompt_and_figure():
    rows = aggregate_rows(figure_summaries(runs()), LABELS)
    row = next(
        r for r in rows if r["model_id"] == "a" and r["prompt_id"] == "" and r["figure"] == "decode_tps"
    )
    assert row["model_name"] == "tiny | f32\nx" and row["backend"] == "gguf"
    assert (row["n"], row["median"], row["low"], row["high"], row["spread"]) == (
        5,
        102.0,
        100.0,
        104.0,
        "min–max",
    )
    assert row["mean"] == 102.0
    assert row["median_ci_low"] <= 102.0 <= row["median_ci_high"]
    assert {r["prompt_id"] for r in rows} == {"", "p"}


def test_a_pair_without_a_winner_says_which_pair_and_figure_and_why():
    from llm_compare.services.bench.aggregate import PairComparison
    from llm_compare.services.bench.report import pair_sentence
    from llm_compare.services.bench.stats import Interval, Ratio

    names = {"a": "Alpha", "b": "Beta"}
    few = PairComparison("a", "b", "ttft_s", None, Ratio(1.5, Interval(1.2, 1.9), 3), "too few runs")
    assert pair_sentence(few, names) == (
        "Alpha vs Beta, TTFT: too few runs (ratio 1.50, 95 % CI 1.20–1.90; as few as 3 runs with this "
        "figure for one prompt, a verdict needs 5)"
    )
    noise = PairComparison(
        "a", "b", "decode_bytes_per_s", None, Ratio(1.02, Interval(0.97, 1.08), 9), "within noise"
    )
    assert (
        pair_sentence(noise, names)
        == "Alpha vs Beta, decode bytes/s: within noise (ratio 1.02, 95 % CI 0.97–1.08)"
    )
    none = PairComparison("a", "b", "decode_tps", None, None, "too few runs")
    assert pair_sentence(none, names) == "Alpha vs Beta, decode tok/s: too few runs"


def test_the_markdown_footer_carries_the_note_on_busy_runs():
    data = runs()
    args = (
        figure_summaries(data),
        pass_rates(data),
        compare_pairs(data, {"a": "A", "b": "B"}, lambda a, b: True),
        LABELS,
    )
    footer = "Each figure: median (min–max below 10 runs, p10–p90 from 10)."
    assert f"{footer} 3 of 32 runs busy (9 %), left out.\n" in markdown_table(
        *args, "3 of 32 runs busy (9 %), left out."
    )
    assert f"{footer}\n" in markdown_table(*args)


def test_measured_hardware_figures_and_devices_add_columns_only_when_present():
    from llm_compare.services.bench.report import devices_by_model

    data = [
        CountedRun(
            "a",
            "p",
            r,
            {"decode_tps": 100.0, "peak_rss_bytes": 2**20 * 50, "peak_file_bytes": 2**20 * 20}
            | {"peak_vram_bytes": 2**20 * 300, "energy_j": 4.0 + r, "j_per_token": 0.125},
            False,
        )
        for r in range(5)
    ] + [CountedRun("b", "p", r, {"decode_tps": 50.0}, False) for r in range(5)]
    devices = devices_by_model(
        [("a", "CUDA: H100"), ("a", "CUDA: H100"), ("b", None), ("b", "CPU, 2 threads")]
    )
    assert devices == {"a": "CUDA: H100", "b": "CPU, 2 threads"}
    labels = {"a": ModelLabel("gpu", "gguf", devices["a"]), "b": ModelLabel("cpu", "gguf", devices["b"])}
    header, cpu, gpu = table_cells(markdown_table(figure_summaries(data), [], [], labels))  # by name
    assert header[:4] == ["model", "backend", "device", "n"]
    assert header[-5:] == ["peak mapped file MiB", "peak GPU MiB", "energy J", "J/token", "checks passed"]
    assert gpu[2] == "CUDA: H100" and cpu[2] == "CPU, 2 threads"
    assert gpu[header.index("J/token")] == "0.1250 (0.1250–0.1250)"
    assert gpu[header.index("energy J")] == "6.00 (4.00–8.00)"
    assert cpu[header.index("J/token")] == "–"  # not measured: empty, not zero
    rows = aggregate_rows(figure_summaries(data), labels)
    assert {r["figure"] for r in rows if r["model_id"] == "a"} >= {"peak_file_bytes", "j_per_token"}
    assert all(r["device"] == "CPU, 2 threads" for r in rows if r["model_id"] == "b")


def test_a_stored_benchmark_report_names_the_device_each_model_ran_on(private_home):
    """`llm-compare bench report` prints this Markdown."""
    from llm_compare.services.bench.results import stored_results
    from llm_compare.services.store.run_store import RunStore
    from tests.support.bench_records import store_bench_run

    store = RunStore()
    records = [store_bench_run(store, "b1", m, "p", r, 100.0) for m in ("x", "y") for r in range(3)]
    for record in records:
        record.device = "CPU, 2 threads, AVX2" if record.model["id"] == "x" else None
    header, *body = table_cells(stored_results(records).markdown)
    assert header[2] == "device"
    assert [row[2] for row in body] == ["CPU, 2 threads, AVX2", "–"]
    assert "energy J" not in header and "J/token" not in header  # measured by no run


def test_the_runs_csv_holds_each_prompt_and_answer_made_inert_for_spreadsheets(private_home):
    import csv
    import io

    from llm_compare.services.bench.report import run_rows
    from llm_compare.services.store.run_store import RunStore, rows_to_csv
    from tests.support.bench_records import store_bench_run

    record = store_bench_run(RunStore(), "b1", "x", "p", 0, 100.0)
    record.prompt, record.text = '=HYPERLINK("http://x")\n  indented', "-1 is the answer, *not* 2"
    [row] = list(csv.DictReader(io.StringIO(rows_to_csv(run_rows([record])))))
    assert row["prompt"] == '\'=HYPERLINK("http://x")\n  indented'
    assert row["text"] == "'-1 is the answer, *not* 2"
    assert row["prompt_id"] == "p" and row["decode_tps"] == "100.0"
