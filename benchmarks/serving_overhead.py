"""What does serving cost? Decode tokens/s and TTFT of one GGUF (a ~28 M-parameter random LLaMA)
in-process (InferenceEngine), behind `llm-compare serve` and behind llama-cpp-python's own
`llama_cpp.server`, in alternating rounds, greedy, the same prompt and token count.

In-process figures are the engine's own (taken where the tokens are produced). Behind a server
they are the client's, on arrival of the streamed chunks, as docs/metrics.md defines endpoint runs:
TTFT from sending the request to the first chunk carrying text; decode tok/s from usage's
completion_tokens over the time between the first and the last text chunk.

    python benchmarks/serving_overhead.py [--rounds 7] [--tokens 128] [--models DIR]

Targets: serve's decode at least 0.95 × in-process, its TTFT at most 10 ms above in-process."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from time import perf_counter

from paired import differences, paired_difference, paired_ratio, ratios, rotated

from llm_compare.core.config import ModelConfig
from llm_compare.modelbuild.tiny import build_random_llama
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.served_models.process import free_port

PROMPT = (
    'def read_config(path):\n    """Read a configuration file and return a dictionary of its settings."""\n'
)
THREADS = 2
N_CTX = 512


def in_process(engine: InferenceEngine, model, config: ModelConfig):
    def run() -> tuple[float, float, int]:
        result = next(e.result for e in engine.run(PROMPT, [model], {model.id: config}) if e.kind == "done")
        assert result.error is None, result.error
        return result.stats.ttft_s, result.stats.decode_tps, result.stats.completion_tokens

    return run


def over_http(port: int, body: dict):
    """A streamed /v1/completions, timed by the client on arrival of each chunk, over one
    connection kept open from request to request, as the openai client (and so our endpoint
    backend) keeps its connections: a new TCP connection per request added about 0.5 ms."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def send() -> tuple[float, http.client.HTTPResponse]:
        """The request on the open connection, or on a new one when the server closed it while
        idle (uvicorn does after 5 s), as httpx retries a stale pooled connection."""
        raw = json.dumps(body).encode()
        for retry in (False, True):
            try:
                t_request = perf_counter()
                connection.request("POST", "/v1/completions", raw, {"Content-Type": "application/json"})
                return t_request, connection.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                connection.close()
                if retry:
                    raise
        raise AssertionError("unreachable")

    def run() -> tuple[float, float, int]:
        try:
            t_request, answer = send()
            assert answer.status == 200, answer.read()
            arrivals, usage, finish = [], None, None
            for line in answer:
                if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                if chunk.get("choices"):
                    if chunk["choices"][0].get("text"):
                        arrivals.append(perf_counter())
                    finish = chunk["choices"][0].get("finish_reason") or finish
        except BaseException:
            connection.close()  # the next request opens a new one
            raise
        # llama_cpp.server sends no usage in a stream; finishing on "length" means it made
        # exactly max_tokens tokens. (Counting chunks would not do: a chunk can hold several.)
        tokens = usage["completion_tokens"] if usage else body["max_tokens"] if finish == "length" else 0
        return arrivals[0] - t_request, (tokens - 1) / (arrivals[-1] - arrivals[0]), tokens

    return run


def start(command: list[str], port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/models")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"{' '.join(command[:4])} did not start")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--models", type=Path, help="keep the built model in this folder and reuse it next time"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.models or Path(scratch)
        if not (folder / "bench-llama-f32.gguf").exists():
            print("building a random LLaMA as f32 GGUF ...", flush=True)
            build_random_llama(
                folder, hidden=512, layers=6, heads=8, intermediate=1408, vocab=8192, name="bench-llama"
            )
        model = next(m for m in ModelManager([folder]).scan() if m.name == "bench-llama-f32")
        config = ModelConfig(
            temperature=0.0,
            top_k=40,
            top_p=0.95,
            mode="raw",
            max_tokens=args.tokens,
            n_threads=THREADS,
            n_ctx=N_CTX,
        )
        home = (
            Path(scratch) / "home"
        )  # serve reads the model's saved settings: threads and context as in-process
        ConfigManager(home).save(model, config)
        env = {**os.environ, "LLM_COMPARE_HOME": str(home)}
        serve_port, llama_port = free_port(), free_port()
        servers = [
            start(
                [
                    sys.executable,
                    "-m",
                    "llm_compare.cli",
                    "serve",
                    "--model",
                    model.path,
                    "--port",
                    str(serve_port),
                ],
                serve_port,
                env,
            ),
            start(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    model.path,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(llama_port),
                    "--n_ctx",
                    str(N_CTX),
                    "--n_threads",
                    str(THREADS),
                    "--n_threads_batch",
                    str(THREADS),
                ],
                llama_port,
                env,
            ),
        ]
        sampling = {
            "prompt": PROMPT,
            "max_tokens": args.tokens,
            "temperature": 0.0,
            "top_k": 40,
            "top_p": 0.95,
            "repeat_penalty": 1.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        engine = InferenceEngine()
        paths = {
            "in-process (engine)": in_process(engine, model, config),
            "llm-compare serve": over_http(serve_port, {**sampling, "model": model.id}),
            # llama.cpp's server defaults (min-p 0.05, cache reuse) set away explicitly.
            "llama_cpp.server": over_http(llama_port, {**sampling, "model": model.path, "min_p": 0.0}),
        }
        figures = {name: {"ttft": [], "tps": []} for name in paths}
        try:
            for round_ in range(args.rounds + 1):  # round 0 warms every path up and is not counted
                for name in rotated(list(paths), round_):
                    ttft, tps, tokens = paths[name]()
                    assert tokens == args.tokens, (
                        f"{name}: {tokens} tokens, not {args.tokens} (the random model ended early)"
                    )
                    if round_:
                        figures[name]["ttft"].append(1000 * ttft)
                        figures[name]["tps"].append(tps)
                    print(
                        f"round {round_}{' (warm-up)' if not round_ else ''}: {name}: {tps:.1f} tok/s, "
                        f"TTFT {1000 * ttft:.1f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            engine.shutdown()
            for server in servers:
                server.terminate()
                server.wait(10)
    load_after = os.getloadavg()
    parameters = model.metadata.parameters or 0
    print(
        f"\n{parameters / 1e6:.1f} M parameters, f32 GGUF, {THREADS} threads, greedy, {args.tokens} new "
        f"tokens; {args.rounds} alternating rounds after one warm-up round; medians (min–max). Load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after.\n"
    )
    print("| path | decode tok/s | mean ± sd | TTFT ms |")
    print("|---|---|---|---|")
    for name, row in figures.items():
        print(
            f"| {name} | {spread(row['tps'])} | {statistics.fmean(row['tps']):.1f} ± "
            f"{statistics.stdev(row['tps']):.1f} | {spread(row['ttft'])} |"
        )
    base = figures["in-process (engine)"]
    print("\nPer-round comparisons with in-process (paired.py), median (interquartile range):\n")
    print("| path | decode / in-process | TTFT − in-process, ms | target met |")
    print("|---|---|---|---|")
    for name in ("llm-compare serve", "llama_cpp.server"):
        row = figures[name]
        met = (
            statistics.median(ratios(row["tps"], base["tps"])) >= 0.95
            and statistics.median(differences(row["ttft"], base["ttft"])) <= 10
        )
        print(
            f"| {name} | {paired_ratio(row['tps'], base['tps'])} | "
            f"{paired_difference(row['ttft'], base['ttft'])} | "
            f"{('yes' if met else 'no') if name == 'llm-compare serve' else '(reference)'} |"
        )


if __name__ == "__main__":
    main()
