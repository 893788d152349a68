"""`llm-compare bench` as a user runs it: a real process, real models, the files it writes."""

import csv
import json
import os
import subprocess
import sys

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import RunStore


def bench(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "llm_compare.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def quick_models(tiny_dir, tiny_models):
    for model in ModelManager([tiny_dir]).scan():
        ConfigManager().save(model, ModelConfig(temperature=0.0, mode="raw", max_tokens=5, n_ctx=256))
    return [tiny_models["hf"].id, tiny_models["gguf_f32"].id]


@pytest.mark.slow
def test_bench_prints_the_table_and_writes_csv_json_and_markdown(quick_models, tiny_dir, tmp_path):
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        '{"id": "a", "prompt": "def f", "checks": {"regex": "."}}\n{"id": "b", "prompt": "import"}\n'
    )
    out = {kind: tmp_path / f"out.{kind}" for kind in ("csv", "json", "md")}
    result = bench(
        "--model",
        quick_models[0],
        "--model",
        quick_models[1],
        "--models-dir",
        str(tiny_dir),
        "--prompts",
        str(suite),
        "--repeat",
        "2",
        "--warmup",
        "1",
        "--seed",
        "7",
        "--include-busy",
        "--csv",
        str(out["csv"]),
        "--json",
        str(out["json"]),
        "--md",
        str(out["md"]),
    )
    assert result.returncode == 0, result.stderr
    assert "| model | backend |" in result.stdout and "10/10 runs" in result.stderr  # 2 warm-ups + 8 counted
    assert out["md"].read_text() == result.stdout
    rows = list(csv.DictReader(out["csv"].open()))
    assert len(rows) == 8  # 2 models x 2 prompts x 2 repetitions
    assert sorted((r["model_id"], r["prompt_id"], r["repeat"]) for r in rows) == sorted(
        (m, p, str(r)) for m in quick_models for p in "ab" for r in range(2)
    )
    assert {r["seed"] for r in rows} == {"7", "8"}
    assert {(r["prompt_id"], r["checks_total"]) for r in rows} == {("a", "1"), ("b", "0")}
    assert {(r["prompt_id"], r["prompt"]) for r in rows} == {("a", "def f"), ("b", "import")}
    assert all(r["text"] for r in rows)  # every answer, as stored
    document = json.loads(out["json"].read_text())
    assert document["repeats"] == 2 and len(document["runs"]) == 8
    benchmark_id = document["benchmark_id"]
    assert {r["benchmark_id"] for r in rows} == {benchmark_id}
    assert len([r for r in RunStore().list() if r.comparison_id == benchmark_id]) == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeat", "0"], "repetitions must be between 1 and 1000"),
        (["--prompts", "missing.jsonl"], "cannot read the prompt suite"),
        (["--model", "no-such-model"], "no-such-model"),
    ],
)
def test_bench_usage_errors_are_one_line_and_exit_2(quick_models, tiny_dir, args, message):
    base = ["--models-dir", str(tiny_dir)] + (["--model", quick_models[0]] if "--model" not in args else [])
    result = bench(*base, *args, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def bench_while_locked(model_id, tiny_dir, private_home, monkeypatch):
    """A benchmark of 2 runs while another process holds the store locked; saves wait 0.3 s."""
    from llm_compare.services.store.run_store import BUSY_TIMEOUT_ENV
    from tests.support.store_lock import database_locked

    store = RunStore()
    store.list()  # the database exists, so there is something to lock
    store.close()  # as a separate process would be
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "0.3")
    with database_locked(store.path):
        done = bench(
            "--model",
            model_id,
            "--models-dir",
            str(tiny_dir),
            "--repeat",
            "2",
            "--warmup",
            "0",
            "--prompts",
            str(_one_prompt_suite(private_home)),
        )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_a_locked_store_keeps_benchmark_runs_pending_and_the_next_open_stores_them(
    quick_models, tiny_dir, private_home, monkeypatch
):
    from llm_compare.services.store.run_store import BUSY_TIMEOUT_ENV, PENDING_FILE_NAME

    done = bench_while_locked(quick_models[1], tiny_dir, private_home, monkeypatch)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert (
        len([w for w in warnings if "kept in pending file" in w and "the benchmark's status" not in w]) == 2
    )
    assert (
        "warning: the store cannot be read (database is locked): the figures are this run's only" in warnings
    )
    assert "| model | backend |" in done.stdout  # the answers' figures are not lost either
    pending = (private_home / PENDING_FILE_NAME).read_text().splitlines()
    assert len([line for line in pending if '"benchmark_event"' not in line]) == 2
    monkeypatch.delenv(BUSY_TIMEOUT_ENV)
    assert len(RunStore().list()) == 2  # imported on the next open
    assert not (private_home / PENDING_FILE_NAME).exists()


@pytest.mark.slow
def test_a_benchmark_started_while_the_store_is_locked_is_listed_once_it_is_free(
    quick_models, tiny_dir, private_home, monkeypatch
):
    """Its start and end wait in the pending file with its runs, and are stored with them."""
    from llm_compare.services.store.run_store import BUSY_TIMEOUT_ENV

    done = bench_while_locked(quick_models[1], tiny_dir, private_home, monkeypatch)
    store = RunStore()
    [benchmark_id] = [
        line.split()[1].rstrip(":") for line in done.stderr.splitlines() if line.startswith("benchmark ")
    ]
    monkeypatch.delenv(BUSY_TIMEOUT_ENV)
    listed = bench("--list", timeout=60)
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.split()[:2] == [benchmark_id, store.benchmark(benchmark_id).created_at]
    assert line.split()[2:5] == ["complete", "2/2", "runs"], line
    runs = store.benchmark_runs(benchmark_id)
    assert sorted(r.bench["repeat"] for r in runs) == [0, 1] and {r.model["id"] for r in runs} == {
        quick_models[1]
    }
    status_notes = [line for line in done.stderr.splitlines() if "the benchmark's status" in line]
    assert len(status_notes) == 2 and all("kept in pending file" in line for line in status_notes)


def _one_prompt_suite(folder):
    path = folder.parent / "one.jsonl"
    path.write_text('{"id": "a", "prompt": "def f"}\n')
    return path


@pytest.mark.slow
def test_a_benchmark_killed_halfway_keeps_its_runs_and_resume_runs_exactly_the_rest(
    quick_models, tiny_dir, private_home
):
    import os
    import signal
    import time

    suite = private_home.parent / "two.jsonl"
    suite.write_text('{"id": "a", "prompt": "def f"}\n{"id": "b", "prompt": "import os"}\n')
    command = [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "bench",
        "--model",
        quick_models[0],
        "--model",
        quick_models[1],
        "--models-dir",
        str(tiny_dir),
        "--prompts",
        str(suite),
        "--repeat",
        "3",
        "--warmup",
        "0",
        "--max-tokens",
        "200",
    ]  # runs long enough to be caught halfway
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    store, deadline = RunStore(), time.monotonic() + 240
    try:
        while not store.benchmarks() or store.benchmarks()[0].runs_stored < 4:
            assert time.monotonic() < deadline and process.poll() is None, "the benchmark did not get halfway"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # no chance to clean up: as a crash or an OOM kill
        process.wait()
    [stored] = store.benchmarks()
    before = {r.run_id: r.bench for r in store.benchmark_runs(stored.benchmark_id)}
    assert 4 <= len(before) < 12
    listed = subprocess.run([*command[:4], "--list"], capture_output=True, text=True, timeout=60)
    assert f"{stored.benchmark_id}" in listed.stdout and "incomplete" in listed.stdout, listed.stdout

    resumed = bench("--resume", stored.benchmark_id, "--models-dir", str(tiny_dir), "--include-busy")
    assert resumed.returncode == 0, resumed.stderr
    after = store.benchmark_runs(stored.benchmark_id)
    keys = [(r.model["id"], r.bench["prompt_id"], r.bench["repeat"]) for r in after]
    assert sorted(keys) == sorted(
        (m, p, r) for m in quick_models for p in "ab" for r in range(3)
    )  # none twice
    assert {
        r.run_id: r.bench for r in after if r.run_id in before
    } == before  # the first runs kept as they were
    assert store.benchmark(stored.benchmark_id).status == "complete"
    assert "| model | backend |" in resumed.stdout


@pytest.mark.slow
@pytest.mark.alone  # a spinner on every core
def test_when_every_run_is_busy_the_table_shows_their_figures_labelled_from_busy_runs(
    quick_models, tiny_dir, tmp_path
):
    """A process spinning on every core makes every run busy (docs/metrics.md: other programs used
    more than 10 % of the CPU): the table has the busy runs' figures, and says where they come from."""
    spin = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 2)]
    try:
        suite = tmp_path / "suite.jsonl"
        suite.write_text('{"id": "a", "prompt": "def f"}\n{"id": "b", "prompt": "import"}\n')
        result = bench(
            "--model",
            quick_models[0],
            "--models-dir",
            str(tiny_dir),
            "--prompts",
            str(suite),
            "--repeat",
            "2",
            "--warmup",
            "0",
            "--max-tokens",
            "20",
        )
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert result.returncode == 0, result.stderr
    # 2 prompts x 2 repetitions, all busy
    assert "Figures from busy runs: 4 of 4 runs busy (100 %), none quiet" in result.stdout
    header, row = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    assert row[header.index("n")] == "4" and row[header.index("decode tok/s")] != "–"
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning: all"))
    assert "all 4 counted runs were busy" in warning and "from busy runs" in warning


def _kill_halfway(command: list[str], at_least: int) -> str:
    """Start a benchmark and kill it (SIGKILL, as a crash) once `at_least` runs are stored; its id."""
    import os
    import signal
    import time

    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    store, deadline = RunStore(), time.monotonic() + 240
    try:
        while not store.benchmarks() or store.benchmarks()[0].runs_stored < at_least:
            assert time.monotonic() < deadline and process.poll() is None, "the benchmark did not get halfway"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return store.benchmarks()[0].benchmark_id


@pytest.mark.slow
def test_resume_finds_an_unsaved_endpoints_model_again_and_says_so_in_one_line_when_its_server_is_gone(
    tiny_models, private_home, monkeypatch
):
    """A benchmark of BASE_URL#MODEL (a real `llm-compare serve` asking for a key) keeps the base
    URL, the model's name and the NAME of the key's variable, never the key; `--resume` reaches
    the server through them, or says in one line that it is gone, running nothing."""
    from llm_compare.services.served_models.process import free_port, start_serving

    key_env, key = "LLM_COMPARE_TEST_BENCH_KEY", "sk-bench-resume-41c7e0"
    monkeypatch.setenv(key_env, key)
    model = tiny_models["gguf_f32"]
    port = free_port()
    server = start_serving(model.path, port, api_key_env=key_env)
    ref = f"{server.base_url}#{model.name}"
    suite = private_home.parent / "two.jsonl"
    suite.write_text('{"id": "a", "prompt": "def f"}\n{"id": "b", "prompt": "import os"}\n')
    command = [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "bench",
        "--model",
        ref,
        "--api-key-env",
        key_env,
        "--prompts",
        str(suite),
        "--repeat",
        "5",
        "--warmup",
        "0",
        "--max-tokens",
        "200",
        "--temperature",
        "0",
    ]
    try:
        benchmark_id = _kill_halfway(command, at_least=2)
    finally:
        server.stop()
    store = RunStore()
    stored = store.benchmark(benchmark_id)
    [model_id] = stored.spec["model_ids"]
    assert stored.spec["endpoint_refs"] == {
        model_id: {"base_url": server.base_url, "model": model.name, "api_key_env": key_env}
    }
    assert key not in json.dumps(stored.spec)
    before = {r.run_id for r in store.benchmark_runs(benchmark_id)}
    assert 2 <= len(before) < 10

    gone = bench("--resume", benchmark_id, timeout=120)
    assert gone.returncode == 2, gone.stderr
    [line] = gone.stderr.strip().splitlines()
    assert (
        line.startswith("error: ")
        and f"connection refused at {server.base_url}" in line
        and benchmark_id in line
    )
    assert {r.run_id for r in store.benchmark_runs(benchmark_id)} == before  # nothing ran

    server = start_serving(model.path, port, api_key_env=key_env)  # the same server back
    try:
        resumed = bench("--resume", benchmark_id, "--include-busy")
    finally:
        server.stop()
    assert resumed.returncode == 0, (
        resumed.stderr
    )  # every run answered: the key was read from its variable again
    runs = store.benchmark_runs(benchmark_id)
    assert sorted((r.model["id"], r.bench["prompt_id"], r.bench["repeat"]) for r in runs) == sorted(
        (model_id, p, r) for p in "ab" for r in range(5)
    )
    assert all(r.finish_reason in ("stop", "length") for r in runs)
    assert store.benchmark(benchmark_id).status == "complete"


def _two_prompt_suite(private_home):
    suite = private_home.parent / "two.jsonl"
    suite.write_text('{"id": "a", "prompt": "def f"}\n{"id": "b", "prompt": "import os"}\n')
    return suite


def _bench_command(*args) -> list[str]:
    return [sys.executable, "-m", "llm_compare.cli", "bench", *args]


def test_a_benchmark_of_a_model_given_by_path_killed_halfway_resumes_through_that_path(
    tiny_models, tmp_path, private_home
):
    """`bench --model PATH` of a file in no model directory, killed as a crash: `--resume` finds
    the file again where it was, and runs exactly the rest."""
    import shutil

    path = tmp_path / "elsewhere" / "mine.gguf"
    path.parent.mkdir()
    shutil.copy(tiny_models["gguf_f32"].path, path)
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    command = _bench_command(
        "--model",
        str(path),
        "--models-dir",
        str(no_models),
        "--prompts",
        str(_two_prompt_suite(private_home)),
        "--repeat",
        "5",
        "--warmup",
        "0",
        "--max-tokens",
        "200",
        "--temperature",
        "0",
    )
    benchmark_id = _kill_halfway(command, at_least=2)
    store = RunStore()
    before = {r.run_id for r in store.benchmark_runs(benchmark_id)}
    assert 2 <= len(before) < 10

    resumed = bench("--resume", benchmark_id, "--models-dir", str(no_models), "--include-busy")
    assert resumed.returncode == 0, resumed.stderr
    runs = store.benchmark_runs(benchmark_id)
    [model_id] = store.benchmark(benchmark_id).spec["model_ids"]
    assert sorted((r.model["id"], r.bench["prompt_id"], r.bench["repeat"]) for r in runs) == sorted(
        (model_id, p, r) for p in "ab" for r in range(5)
    )  # none twice
    assert before <= {r.run_id for r in runs} and {r.model["path"] for r in runs} == {str(path.resolve())}
    assert store.benchmark(benchmark_id).status == "complete"


def test_a_resumed_benchmark_runs_with_the_settings_it_started_with_not_those_saved_since(
    tiny_dir, tiny_models, private_home
):
    """A setting changed between the crash and the resume does not leak into the benchmark: one
    table, one configuration."""
    model = tiny_models["gguf_f32"]
    started_with = ModelConfig(temperature=0.0, mode="raw", max_tokens=5, n_ctx=256, top_k=11)
    ConfigManager().save(model, started_with)
    command = _bench_command(
        "--model",
        model.id,
        "--models-dir",
        str(tiny_dir),
        "--prompts",
        str(_two_prompt_suite(private_home)),
        "--repeat",
        "5",
        "--warmup",
        "0",
        "--max-tokens",
        "200",
    )
    benchmark_id = _kill_halfway(command, at_least=2)
    ConfigManager().save(model, started_with.updated(temperature=0.9, top_k=22, n_ctx=512))

    resumed = bench("--resume", benchmark_id, "--models-dir", str(tiny_dir), "--include-busy")
    assert resumed.returncode == 0, resumed.stderr
    assert "warning" not in resumed.stderr
    store = RunStore()
    runs = store.benchmark_runs(benchmark_id)
    assert len(runs) == 10
    assert {(r.config["temperature"], r.config["top_k"], r.config["n_ctx"]) for r in runs} == {(0.0, 11, 256)}
    assert store.benchmark(benchmark_id).spec["setups"][model.id]["config"] == started_with.model_dump()


def _stopped_at_once(model) -> str:
    """A benchmark of `model` started through the service and stopped before its first run (as
    Stop would): its id. Nothing ran, everything is left for a resume."""
    from llm_compare.services.bench.jobs import BenchmarkJobs
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import Suite, SuitePrompt
    from llm_compare.services.engine.engine import InferenceEngine

    spec = BenchmarkSpec((model.id,), Suite("one", (SuitePrompt("a", "def f"),)), repeats=2, warmups=0)
    engine = InferenceEngine(max_models=1)
    try:
        runner = BenchmarkJobs(engine).start(spec, [model])
        runner.cancel()
        assert runner.wait(60)
    finally:
        engine.shutdown()
    assert RunStore().benchmark(runner.benchmark_id).status == "stopped"
    return runner.benchmark_id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("size", "mine.gguf is now"),
        ("header", "mine.gguf has another header"),
        ("mtime", "mine.gguf was modified"),
    ],
)
def test_resume_refuses_a_model_file_changed_since_the_start_in_one_line(
    tiny_models, tmp_path, change, reason
):
    import os
    import shutil

    path = tmp_path / "mine.gguf"
    shutil.copy(tiny_models["gguf_f32"].path, path)
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    [model] = ModelManager([no_models]).select_models([str(path)])
    benchmark_id = _stopped_at_once(model)
    status = path.stat()
    if change == "size":
        with path.open("ab") as file:
            file.write(b"\0" * 32)
    elif change == "header":
        data = bytearray(path.read_bytes())
        data[40] ^= 0xFF  # inside the metadata; the same size
        path.write_bytes(bytes(data))
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    else:
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 5 * 10**9))

    refused = bench("--resume", benchmark_id, "--models-dir", str(no_models), timeout=120)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: benchmark {benchmark_id} cannot be resumed: mine changed since")
    assert reason in line
    assert RunStore().benchmark_runs(benchmark_id) == []  # nothing ran


def test_resuming_a_benchmark_stored_before_settings_were_kept_warns_once_and_uses_todays(
    quick_models, tiny_dir, tiny_models
):
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import Suite, SuitePrompt

    model = tiny_models["gguf_f32"]
    spec = BenchmarkSpec(
        (model.id,), Suite("one", (SuitePrompt("a", "def f"),)), repeats=2, warmups=0, max_tokens=4
    ).to_dict()
    del spec["setups"]  # as benchmarks were stored before they kept their models' settings
    store = RunStore()
    store.benchmark_started("older", spec, "interleaved")
    store.benchmark_ended("older", "stopped")

    resumed = bench("--resume", "older", "--models-dir", str(tiny_dir), "--include-busy")
    assert resumed.returncode == 0, resumed.stderr
    [warning] = [line for line in resumed.stderr.splitlines() if line.startswith("warning:")]
    assert "started before benchmarks kept their models' settings" in warning and model.name in warning
    runs = store.benchmark_runs("older")
    assert len(runs) == 2 and {r.config["n_ctx"] for r in runs} == {256}  # quick_models' saved setting


def test_resume_refuses_a_benchmark_whose_process_still_runs(tiny_models):
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import Suite, SuitePrompt

    model = tiny_models["gguf_f32"]
    spec = BenchmarkSpec((model.id,), Suite("one", (SuitePrompt("a", "def f"),)), repeats=1, warmups=0)
    store = RunStore()
    store.benchmark_started("live", spec.to_dict(), "interleaved")  # run by this test's process, alive
    refused = bench("--resume", "live", timeout=60)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert "benchmark live is still running in another process" in line
    assert store.benchmark_runs("live") == []
