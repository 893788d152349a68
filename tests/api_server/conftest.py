"""A real `llm-compare serve` on 127.0.0.1, started and stopped (by its own pid) by the tests,
and a small HTTP client on the standard library that can send any header (a forged Host too)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from llm_compare.services.served_models.process import free_port

KEY_ENV = "LLM_COMPARE_TEST_SERVE_KEY"
KEY = "sk-test-5a1d2b9e7c"  # what the tests' server asks for; searched for in its log
START_TIMEOUT_S = 120


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


# A first request loads its model (torch for a PyTorch folder): minutes on a loaded 2-core machine.
@dataclass
class Server:
    key = KEY  # the key the tests' server asks for
    port: int
    log_path: Path
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def request(
        self,
        method: str,
        path: str,
        body=None,
        *,
        key: str | None = KEY,
        headers: dict | None = None,
        timeout: float = 300,
    ) -> Response:
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            all_headers = {
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {key}"} if key else {}),
                **(headers or {}),
            }
            connection.putrequest(method, path, skip_host="Host" in all_headers)
            for name, value in all_headers.items():
                connection.putheader(name, value)
            if raw is not None:
                connection.putheader("Content-Length", str(len(raw)))
            connection.endheaders(raw)
            answer = connection.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def post(self, path: str, body, **kwargs) -> Response:
        return self.request("POST", path, body, **kwargs)

    @contextmanager
    def stream(self, path: str, body, *, key: str | None = KEY, timeout: float = 300):
        """A streamed POST: yields (status, an iterator over the `data:` payloads, the connection)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            raw = json.dumps(body).encode()
            connection.request(
                "POST", path, raw, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            )
            answer = connection.getresponse()

            def events():
                for line in answer:
                    line = line.decode().rstrip("\r\n")
                    if line.startswith("data: "):
                        yield line[len("data: ") :]

            yield answer.status, events(), connection
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "llm_compare.cli", "serve", *args]


@pytest.fixture
def serve_cli():
    """The command that starts `llm-compare serve` with these arguments."""
    return serve_command


@contextmanager
def running_server(args: list[str], tmp_path: Path, env: dict | None = None):
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    environment = {**os.environ, KEY_ENV: KEY, **(env or {})}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            serve_command(*args, "--port", str(port)),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    server = Server(port, log_path, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}: {server.log()[-2000:]}", pytrace=False)
            try:
                if server.request("GET", "/healthz", key=None, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"serve did not answer within {START_TIMEOUT_S} s: {server.log()[-2000:]}", pytrace=False
                )
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def broken_hf(tmp_path_factory, tiny_dir) -> Path:
    """A tiny HF folder whose config no longer fits its weights: discovered as usable, fails to load."""
    folder = tmp_path_factory.mktemp("broken") / "broken-llama"
    shutil.copytree(tiny_dir / "tiny-llama", folder)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = config["intermediate_size"] * 2
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def server_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-home")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models, slow_prefill_models, broken_hf, server_home):
    """One server for the module: the tiny HF folder and GGUF, a slow GGUF (long runs, for the
    queue), and a folder that cannot load; a key, a 64 KiB body limit, a queue of one."""
    models = [
        tiny_models["hf"].path,
        tiny_models["gguf_f32"].path,
        slow_prefill_models["gguf_f32"].path,
        str(broken_hf),
    ]
    args = [arg for path in models for arg in ("--model", path)]
    args += ["--api-key-env", KEY_ENV, "--max-body-bytes", "65536", "--queue-size", "1"]
    with running_server(
        args, tmp_path_factory.mktemp("serve-log"), env={"LLM_COMPARE_HOME": str(server_home)}
    ) as running:
        yield running
