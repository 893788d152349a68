"""The Results page's hardware columns (device, the peak's split, GPU memory and layers, energy):
shown when a run on the page has them, absent on a CPU-only page where none has."""

from dashboard_testing import APP, no_exception
from streamlit.testing.v1 import AppTest

from llm_compare.services.store.run_store import RunStore
from tests.support.synthetic_runs import synthetic_runs

MiB = 2**20
HARDWARE_COLUMNS = (
    "device",
    "peak_private_mib",
    "peak_file_mib",
    "peak_vram_mib",
    "gpu_layers",
    "energy_j",
    "j_per_token",
)


def results_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    return at


def shown_columns(at: AppTest) -> list[str]:
    return list(at.dataframe[0].proto.column_order)


def test_measured_figures_get_their_columns(private_home, tmp_path, monkeypatch):
    runs = list(synthetic_runs(4, seed=3, benchmark_share=0))
    measured = runs[-1]  # the newest: first on the page
    measured.device = "CUDA: NVIDIA H100 80GB HBM3"
    measured.stats |= {
        "peak_private_bytes": 500 * MiB,
        "peak_file_bytes": 2400 * MiB,
        "peak_vram_bytes": 3100 * MiB,
        "gpu_layers_offloaded": 33,
        "gpu_layers_total": 33,
        "energy_j": 12.5,
        "j_per_token": 0.379,
    }
    RunStore().save_many(runs)
    at = results_page(tmp_path, monkeypatch)
    columns = shown_columns(at)
    assert all(column in columns for column in HARDWARE_COLUMNS)
    table = at.dataframe[0].value
    row = table[table["run_id"] == measured.run_id].iloc[0]
    assert row["device"] == "CUDA: NVIDIA H100 80GB HBM3" and row["gpu_layers"] == "33/33"
    assert (row["peak_file_mib"], row["peak_vram_mib"], row["j_per_token"]) == (2400, 3100, 0.379)


def test_a_cpu_only_page_has_no_empty_hardware_columns(private_home, tmp_path, monkeypatch):
    RunStore().save_many(synthetic_runs(4, seed=3, benchmark_share=0))
    columns = shown_columns(results_page(tmp_path, monkeypatch))
    assert "peak_rss_mib" in columns
    assert not any(column in columns for column in HARDWARE_COLUMNS)
