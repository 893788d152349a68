"""Real HTTP servers for the tests of the `openai` backend, all on 127.0.0.1 and stopped by the
test that started them: llama-cpp-python's own OpenAI-compatible server serving a GGUF file, and a
small server of our own that misbehaves on demand (the model's name says how)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.dashboard_driver import free_port

# Each model of the misbehaving server answers a chat or completion request in its own way.
BEHAVIOURS = (
    "ok",
    "slow-ok",
    "status-401",
    "status-403",
    "status-404",
    "status-429",
    "status-500",
    "status-503",
    "cut",
    "malformed",
    "hang",
    "flaky-503",
)
OK_PIECES = ["Hello", ",", " world", "!"]
SLOW_FIRST_S, SLOW_NEXT_S = 1.0, 0.6  # slow-ok's delays before its first piece of text and each next one
# As llama.cpp's server README shows its `timings` object.
LLAMA_CPP_TIMINGS = {
    "cache_n": 0,
    "prompt_n": 7,
    "prompt_ms": 30.958,
    "prompt_per_token_ms": 4.42,
    "prompt_per_second": 226.1,
    "predicted_n": 4,
    "predicted_ms": 66.1,
    "predicted_per_token_ms": 16.5,
    "predicted_per_second": 60.5,
}


class _Handler(BaseHTTPRequestHandler):
    server: MisbehavingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # the test's output stays readable
        self.server.log.append(format % args)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, dict(self.headers), None))
        if self.path == "/v1/models":
            models = [{"id": name, "object": "model", "owned_by": "tests"} for name in self.server.models]
            return self._json(200, {"object": "list", "data": models})
        if self.path == "/api/version" and self.server.kind == "ollama":
            return self._json(200, {"version": "0.0.0-test"})
        if self.path == "/props" and self.server.kind == "llama.cpp":  # as llama-server answers it
            return self._json(200, {"default_generation_settings": {"n_ctx": 512}, "build_info": "b0-test"})
        if self.path == "/api/ps" and self.server.kind == "ollama":
            return self._json(200, {"models": [{"name": m, "model": m} for m in sorted(self.server.loaded)]})
        return self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        try:
            self._answer_post()
        except (BrokenPipeError, ConnectionResetError):  # the client went away (Stop): nothing to answer
            self.close_connection = True

    def _answer_post(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(("POST", self.path, dict(self.headers), body))
        model = body.get("model", "")
        chat = self.path.endswith("/chat/completions")
        if (
            self.server.required_key
            and self.headers.get("Authorization") != f"Bearer {self.server.required_key}"
        ):
            return self._json(401, {"error": {"message": "invalid API key", "type": "auth"}})
        if model.startswith("status-"):
            code = int(model.removeprefix("status-"))
            headers = {"Retry-After": "1"} if code == 429 else {}
            return self._json(
                code,
                {"error": {"message": f"test server says {code}", "type": "test", "code": code}},
                headers,
            )
        if model == "flaky-503" and self.server.count_post(model) <= 1:
            return self._json(503, {"error": {"message": "warming up"}})
        if model == "hang":
            self.server.stopped.wait()  # never answers while the test runs
            return
        self.server.loaded.add(model)
        self._start_stream()
        if model == "malformed":
            self._event(self._chunk("Hi", chat))
            self._raw(b"data: {this is not json\n\n")
            return self._end_chunks()
        if model == "cut":
            self._event(self._chunk("Partial", chat))
            self._event(self._chunk(" answer", chat))
            self.wfile.flush()
            self.close_connection = True
            return  # no finish_reason, no [DONE], no final empty chunk: the connection just ends
        if chat:
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for i, piece in enumerate(OK_PIECES):
            if model == "slow-ok":  # the first text long after the role chunk, the rest at a slower pace
                time.sleep(SLOW_FIRST_S if i == 0 else SLOW_NEXT_S)
            self._event(self._chunk(piece, chat))
        self._event(self._chunk("", chat, finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            final = {
                "choices": [],
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": len(OK_PIECES),
                    "total_tokens": 11,
                    "prompt_tokens_details": {"cached_tokens": 3},
                },
            }
            if self.server.kind == "llama.cpp":  # llama-server's own figures, in its final chunk
                final["timings"] = LLAMA_CPP_TIMINGS
            self._event(final)
        self._raw(b"data: [DONE]\n\n")
        self._end_chunks()

    # --- writing ---

    def _chunk(self, text: str, chat: bool, finish: str | None = None) -> dict:
        choice = {"index": 0, "finish_reason": finish}
        choice |= {"delta": {"content": text}} if chat else {"text": text}
        return {
            "id": "x",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": 0,
            "model": "m",
            "choices": [choice],
        }

    def _json(self, code: int, data: dict, headers: dict | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(code)
        for name, value in {
            "Content-Type": "application/json",
            "Content-Length": str(len(payload)),
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _event(self, data: dict) -> None:
        self._raw(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _raw(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class MisbehavingServer(ThreadingHTTPServer):
    """An OpenAI-style server whose models fail as their names say (see BEHAVIOURS). As `kind`
    "ollama" it also answers Ollama's /api/version and /api/ps (a model counts as loaded once it
    has answered); as "llama.cpp", llama-server's /props, and its final chunk carries `timings`. With
    `required_key`, a generation request without that bearer key gets 401."""

    daemon_threads = True

    def __init__(self, kind: str | None = None, required_key: str | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.required_key = required_key
        self.models = list(BEHAVIOURS)
        self.kind = kind
        self.loaded: set[str] = set()
        self.requests: list[tuple] = []
        self.log: list[str] = []
        self.stopped = threading.Event()
        self._posts: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def count_post(self, model: str) -> int:
        with self._lock:
            self._posts[model] = self._posts.get(model, 0) + 1
            return self._posts[model]


@contextmanager
def misbehaving_server(
    kind: str | None = None, required_key: str | None = None
) -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(kind, required_key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopped.set()
        server.shutdown()
        server.server_close()


@contextmanager
def llama_cpp_server(
    gguf: Path, alias: str = "tiny", n_ctx: int = 512, log_path: Path | None = None, timeout_s: float = 90
) -> Iterator[str]:
    """`python -m llama_cpp.server` serving `gguf` on 127.0.0.1; yields its base URL; stopped by its PID."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        "1",
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for(f"{base_url}/models", process, timeout_s)
        yield base_url
    finally:
        process.kill()
        process.wait(10)
        if log_path:
            log.close()


def _wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout_s} s")
