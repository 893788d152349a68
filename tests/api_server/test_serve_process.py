"""The command line of `llm-compare serve`, and start_serving (what the dashboard calls)."""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import openai
import psutil
import pytest

from llm_compare.api_server.settings import ServeSettings
from llm_compare.core.errors import ModelLoadError
from llm_compare.services.served_models.process import free_port, start_serving
from llm_compare.system.child_processes import POLL_S


def test_a_key_asked_for_but_not_set_is_one_line_of_bad_usage(tiny_models, serve_cli):
    done = subprocess.run(
        serve_cli("--model", tiny_models["gguf_f32"].path, "--api-key-env", "LLM_COMPARE_NO_SUCH_VAR"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        (
            "error: --api-key-env LLM_COMPARE_NO_SUCH_VAR: that environment variable is not set or empty; "
            "export LLM_COMPARE_NO_SUCH_VAR=YOUR_KEY first"
        )
    ]


def test_binding_beyond_loopback_is_flagged():
    assert not ServeSettings(host="127.0.0.1").exposed and not ServeSettings(host="::1").exposed
    assert ServeSettings(host="0.0.0.0").exposed and ServeSettings(host="192.168.1.5").exposed


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_server_exits_with_its_workers_when_the_process_that_started_it_is_killed(tiny_models):
    """SIGKILL (or the OOM killer) runs no atexit hook: the server must notice by itself, and
    take its model worker with it, freeing the memory and the port."""
    model = tiny_models["gguf_f32"]
    parent_script = textwrap.dedent(f"""
        import json, time
        import openai, psutil
        from llm_compare.services.served_models.process import start_serving

        served = start_serving({model.path!r})
        client = openai.OpenAI(base_url=served.base_url, api_key="none", max_retries=0, timeout=120)
        # loads a worker
        client.completions.create(model={model.id!r}, prompt="def f(", max_tokens=2, temperature=0)
        workers = [p.pid for p in psutil.Process(served.pid).children(recursive=True)]
        found = {{"server": served.pid, "workers": workers, "base_url": served.base_url}}
        print(json.dumps(found), flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True)
    started = []
    try:
        line = parent.stdout.readline()
        assert line, f"the parent exited with {parent.wait()} before serving"
        started = json.loads(line)
        server = psutil.Process(started["server"])
        workers = [psutil.Process(pid) for pid in started["workers"]]
        assert workers  # the model is loaded: its worker must go too
        parent.kill()
        parent.wait()
        assert_all_gone([server, *workers], timeout_s=20)
        port = int(started["base_url"].rsplit(":", 1)[1].split("/")[0])
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # raises while anything still listens there
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in [started["server"], *started["workers"]] if started else []:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()


def assert_all_gone(processes: list[psutil.Process], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (alive := [p for p in processes if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, (
        f"still running {timeout_s:.0f} s after their parent was killed: {[p.pid for p in alive]}"
    )


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (an exited process nobody has reaped yet is gone for our purpose)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_a_server_started_from_a_shell_outlives_the_shell(tiny_models, serve_cli):
    """Only start_serving's servers follow their parent: a user's `llm-compare serve &` keeps running."""
    port = free_port()
    command = shlex.join(serve_cli("--model", tiny_models["gguf_f32"].path, "--port", str(port)))
    shell = subprocess.Popen(
        ["sh", "-c", f"{command} </dev/null >/dev/null 2>&1 & echo $!; exec sleep 600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    server = psutil.Process(int(shell.stdout.readline()))
    try:
        assert answers(f"http://127.0.0.1:{port}/healthz", timeout_s=120)
        shell.kill()  # the server is an orphan now, as the parent-killed one above
        shell.wait()
        time.sleep(3 * POLL_S)  # a watchdog would have struck by now
        assert running(server) and answers(f"http://127.0.0.1:{port}/healthz", timeout_s=5)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        with contextlib.suppress(psutil.NoSuchProcess):
            server.terminate()
        psutil.wait_procs([server], timeout=15)


def answers(url: str, timeout_s: float) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), opener.open(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False
