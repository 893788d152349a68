"""Start-up stays light: the services and the CLI import no backend library; only workers do."""

import subprocess
import sys

import pytest

BACKENDS = ("torch", "transformers", "llama_cpp")


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        # Discovery reads headers itself: not even the gguf or safetensors packages.
        (["llm_compare.services.discovery.model_manager"], (*BACKENDS, "gguf", "numpy", "safetensors")),
        (
            [
                "llm_compare.services.engine.engine",
                "llm_compare.services.discovery.config_manager",
                "llm_compare.services.store.run_store",
                "llm_compare.cli",
            ],
            BACKENDS,
        ),
        # `llm-compare serve` loads models in workers too; the other commands never pay for its web stack.
        (["llm_compare.api_server.app", "llm_compare.services.served_models.process"], BACKENDS),
        (["llm_compare.cli"], ("fastapi", "uvicorn", "starlette")),
    ],
)
def test_importing_loads_no_heavy_library(modules, forbidden):
    code = f"import sys, {', '.join(modules)}\nprint(sorted(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
