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
        # The package's public names are imported on first use: opening the package costs nothing.
        (["llm_compare.services"], (*BACKENDS, "psutil", "llm_compare.services.engine.engine")),
    ],
)
def test_importing_loads_no_heavy_library(modules, forbidden):
    code = f"import sys, {', '.join(modules)}\nprint(sorted(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_service_names_import_from_the_services_package_without_a_backend():
    code = (
        "import sys\n"
        "from llm_compare.services import ConfigManager, InferenceEngine, ModelManager\n"
        "from llm_compare.services.discovery.config_manager import ConfigManager as C\n"
        "from llm_compare.services.discovery.model_manager import ModelManager as M\n"
        "from llm_compare.services.engine.engine import InferenceEngine as E\n"
        "assert (ConfigManager, ModelManager, InferenceEngine) == (C, M, E)\n"
        f"print(sorted(m for m in {BACKENDS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_name_of_the_services_package_is_an_attribute_error():
    import llm_compare.services

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = llm_compare.services.Nothing
