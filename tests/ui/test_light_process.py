"""The dashboard process stays light: models run in worker processes, so it never imports a
backend library, even after a comparison. Checked in a fresh interpreter, since the test
session itself imports torch to build the tiny models."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from dashboard_testing import APP, RUN_TIMEOUT_S

from llm_compare.services.store.run_store import RunStore

pytestmark = pytest.mark.slow

HEAVY = ("torch", "transformers", "llama_cpp", "safetensors", "tokenizers")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from streamlit.testing.v1 import AppTest
    from llm_compare.core.config import ModelConfig
    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager

    app, models_dir, name, timeout = sys.argv[1:5]
    model = ModelManager([models_dir]).get(name)
    ConfigManager().save(model, ModelConfig(temperature=0.0, mode="raw", max_tokens=8, n_ctx=256))
    at = AppTest.from_file(app, default_timeout=30).run()
    row = list(at.dataframe(key="models_table").value["name"]).index(name)  # tick its row in the table
    at.session_state["models_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    for page in ("pages/configure.py", "pages/compare.py"):
        at.switch_page(page).run()
    at.text_area(key="prompt").input("hello").run()
    at.button(key="run").click().run(timeout=float(timeout))
    errors = lambda: [e.value for e in at.error] + [e.value for e in at.exception]  # noqa: E731
    compare = {"answers": [t.value for t in at.text], "errors": errors(),
               "stats": [c.value for c in at.caption if c.value.startswith("TTFT")]}
    at.switch_page("pages/results.py").run()
    results = {"runs": len(at.dataframe[0].value) if at.dataframe else 0, "errors": errors()}
    print(json.dumps({"modules": sorted(sys.modules), "compare": compare, "results": results}))
    """
)


@pytest.mark.parametrize(
    "model_name",
    ["tiny-llama-f32", "tiny-llama"],
)
def test_the_dashboard_process_never_imports_a_backend(model_name, tiny_dir, private_home):
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(APP), str(tiny_dir), model_name, str(RUN_TIMEOUT_S)],
        check=False,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S + 60,
        env={**os.environ, "LLM_COMPARE_MODELS_DIR": str(tiny_dir)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # The comparison really ran in this process's dashboard, or the import check proves nothing.
    compare = report["compare"]
    assert compare["errors"] == [] and len(compare["answers"]) == len(compare["stats"]) == 1, compare
    [answer], [stats] = compare["answers"], compare["stats"]
    assert answer.strip() and "→ 8 tokens" in stats and "length" in stats, compare
    [run] = RunStore().list()
    assert (run.text, run.stats["completion_tokens"], run.error) == (answer, 8, None)
    assert report["results"] == {"runs": 1, "errors": []}
    imported = [m for m in report["modules"] if m.split(".")[0] in HEAVY]
    assert imported == []
