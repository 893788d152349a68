"""Helpers for driving the dashboard with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from llm_compare.core.config import ModelConfig

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 120  # a comparison loads models in worker processes (torch: ~3 s)


def ids_by_name(at: AppTest) -> dict[str, str]:
    """Model ids by name, from the Models page's selection checkboxes."""
    return {
        box.label: box.key.removeprefix("select:") for box in at.checkbox if box.key.startswith("select:")
    }


def select(at: AppTest, *names: str) -> AppTest:
    for name in names:
        at.checkbox(key=f"select:{ids_by_name(at)[name]}").check().run()
    return at


def quick_config() -> ModelConfig:
    """Short deterministic answers: the comparison tests stay fast."""
    return ModelConfig(temperature=0.0, mode="raw", max_tokens=12, n_ctx=256)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
