"""Workers import llm_compare and nothing of the program that drives them: the engine works from
`python -c`, from a script read on stdin, and from a script without a main guard."""

import subprocess
import sys

import pytest

SCRIPT = """
from llm_compare.core.config import ModelConfig
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.discovery.model_manager import ModelManager

with open({marker!r}, "a") as marker:
    marker.write("ran ")
model = ModelManager([]).inspect({path!r})
engine = InferenceEngine()
config = ModelConfig(temperature=0, mode="raw", max_tokens=3, n_ctx=256)
[result] = [e.result for e in engine.run("import os", [model], {{model.id: config}}) if e.kind == "done"]
engine.shutdown()
print("RESULT", result.finish_reason.value, result.error)
"""


@pytest.mark.parametrize("how", ["-c", "stdin", "script without a main guard"])
def test_the_engine_runs_models_whatever_starts_the_program(tiny_models, tmp_path, how):
    marker = tmp_path / "marker"
    source = SCRIPT.format(marker=str(marker), path=tiny_models["gguf_f32"].path)
    if how == "-c":
        command, stdin = [sys.executable, "-c", source], None
    elif how == "stdin":
        command, stdin = [sys.executable, "-"], source
    else:
        script = tmp_path / "compare.py"
        script.write_text(source)
        command, stdin = [sys.executable, str(script)], None
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "RESULT length None" in done.stdout, done.stderr[-2000:]
    assert marker.read_text() == "ran ", "the program's own code ran once, not again in the worker"
