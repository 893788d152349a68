"""The command line of `llm-compare serve`, and start_serving (what the dashboard calls)."""

from __future__ import annotations

import subprocess

import openai
import psutil
import pytest

from llm_compare.core.errors import ModelLoadError
from llm_compare.server.settings import ServeSettings
from llm_compare.services.serving.process import start_serving


def test_a_key_asked_for_but_not_set_is_one_line_of_bad_usage(tiny_models, serve_cli):
    done = subprocess.run(serve_cli("--model", tiny_models["gguf_f32"].path, "--api-key-env", "LLM_COMPARE_NO_SUCH_VAR"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [(
        "error: --api-key-env LLM_COMPARE_NO_SUCH_VAR: that environment variable is not set or empty; "
        "export LLM_COMPARE_NO_SUCH_VAR=YOUR_KEY first"
    )]


def test_binding_beyond_loopback_is_flagged():
    assert not ServeSettings(host="127.0.0.1").exposed and not ServeSettings(host="::1").exposed
    assert ServeSettings(host="0.0.0.0").exposed and ServeSettings(host="192.168.1.5").exposed


def test_start_serving_runs_one_model_on_a_free_port_and_stops_it(tiny_models):
    model = tiny_models["gguf_f32"]
    served = start_serving(model.path)
    try:
        assert served.base_url.startswith("http://127.0.0.1:") and served.base_url.endswith("/v1")
        assert "loaded a second time" in served.notice
        client = openai.OpenAI(base_url=served.base_url, api_key="none", max_retries=0, timeout=120)
        assert [m.id for m in client.models.list()] == [model.id]
        answer = client.completions.create(model=model.id, prompt="def f(", max_tokens=3, temperature=0)
        assert answer.usage.completion_tokens == 3
        workers = psutil.Process(served.pid).children(recursive=True)
        assert workers  # the model's worker, a child of the server
    finally:
        served.stop()
    assert not psutil.pid_exists(served.pid) or psutil.Process(served.pid).status() == psutil.STATUS_ZOMBIE
    psutil.wait_procs(workers, timeout=10)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_start_serving_an_unknown_model_says_why(tmp_path):
    with pytest.raises(ModelLoadError, match="could not serve .*no-such-model"):
        start_serving(str(tmp_path / "no-such-model.gguf"), timeout_s=60)
