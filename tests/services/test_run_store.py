"""The run store keeps full snapshots and exports them as CSV."""

import csv
import io
import sqlite3

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.core.results import STAT_HELP, FinishReason, InferenceResult, InferenceStats
from llm_compare.services.run_store import MIGRATIONS, RunRecord, RunStore, to_csv


def make_record(text: str, config: ModelConfig) -> RunRecord:
    model = ModelInfo("m-1", "m", ModelType.GGUF, "/models/m.gguf", 123, {"quantization": "Q8_0", "mtime": 1.5})
    stats = InferenceStats(load_s=0.5, prompt_tokens=3, completion_tokens=7, ttft_s=0.1, e2e_s=0.4, decode_tps=20.0, finish_reason=FinishReason.LENGTH)
    result = InferenceResult("m-1", text, FinishReason.LENGTH, None, stats, backend_versions={"llama_cpp_python": "0.3"})
    return RunRecord.from_result(comparison_id="c1", prompt="p, with \"quotes\"\nand lines", system_prompt=None,
                                 schedule="sequential", model=model, config=config, result=result)


def test_runs_persist_with_a_snapshot_of_their_config(private_home):
    config = ModelConfig(temperature=0.2, stop=["\n"])
    RunStore().save(make_record("first", config))
    config = config.updated(temperature=0.9)  # changing settings later must not rewrite history
    RunStore().save(make_record("second", config))
    runs = RunStore().list()
    assert [r.text for r in runs] == ["second", "first"]
    assert runs[1].config["temperature"] == 0.2 and runs[1].config["stop"] == ["\n"]
    assert runs[1].model["path"] == "/models/m.gguf" and runs[1].model["mtime"] == 1.5
    assert runs[1].host["cores"] >= 1 and runs[1].backend_versions == {"llama_cpp_python": "0.3"}
    with sqlite3.connect(private_home / "runs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_csv_has_every_metric_model_and_config_column():
    records = [make_record("a, b", ModelConfig()), make_record("c\nd", ModelConfig(seed=5))]
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert len(rows) == 2
    assert set(STAT_HELP) <= set(rows[0])
    assert {"model", "model_id", "backend", "quantization", "config_temperature", "config_seed", "prompt", "text"} <= set(rows[0])
    assert rows[0]["text"] == "a, b" and rows[1]["text"] == "c\nd"
    assert rows[1]["config_seed"] == "5" and rows[0]["decode_tps"] == "20.0"
    assert to_csv([]) == ""


def test_an_empty_store_lists_nothing():
    assert RunStore().list() == []
