"""Does the GGUF path run at llama.cpp's own speed? Decode and prefill tokens/s of the ~28 M-parameter
random LLaMA of engine_overhead.py, as f32 and Q8_0 GGUF, through four paths measured side by side,
in alternating rounds, on the same file, threads and token counts:

- `llama-bench` (C++): tg128 at the depth of our short prompt (`-p 0 -n 128 -d N`: the tokens
  decoded at the positions ours are; llama-bench ran tg128 @ d21 at 0.94 × its empty-context
  speed), tg128 in an empty context for reference, and pp512 (`-p 512 -n 0`), built from the llama.cpp
  sources inside the installed llama-cpp-python's source distribution (fetched with pip once;
  binary cached under ~/.cache/llm-compare); without cmake and a C++ compiler it says so and
  measures the rest;
- a plain Python loop over llama-cpp-python's low-level API (one llama_decode per token, greedy),
  and the same loop decoding a fixed token without sampling, as llama-bench's tg does;
- that loop in C (`decode_loop.c`, compiled as the GGUF backend compiles its token loop, called
  through ctypes on the Python loop's own context): llama.cpp in this very process with nothing
  between two llama_decode calls, which tells what the process costs apart from what Python costs;
- llama-cpp-python's `Llama.generate`;
- our InferenceEngine (worker process, its GGUF backend's C token loop): decode tok/s from a greedy
  run on a short prompt, prefill tok/s from TTFT on a 512-token prompt.

Each figure is the second of two runs back to back (see `measured`). In this process, every
llama_decode call made from Python is also stamped (`DecodeClock`; the C loops stamp their own):
the time between two calls, measured within the same tokens as llama.cpp's own, is what a loop
costs, free of the host's drift. Our generation loop, in the same process, is compared by whole
speed with the C loop, round by round.

Every path runs with the context llama-bench gives the same test: n_prompt + n_gen tokens (which
llama.cpp pads to a multiple of 256). A larger context is slower to decode even when its cells
are empty: on the Q8_0 file, a 1,024-token context decoded 8 % slower than a 256-token one.

    python benchmarks/gguf_speed.py [--rounds 12] [--tokens 128] [--prompt-tokens 512] [--threads 2]
        [--without-llama-bench]
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter, sleep
from typing import Self

from engine_overhead import llama_generate  # benchmarks/ is on the path when this script runs
from llama_cpp_tools import c_decode_loop, llama_cpp_tool
from paired import median_and_quartiles, paired_difference, paired_ratio, rotated

from llm_compare.core.config import ModelConfig
from llm_compare.inferencers.base import create_inferencer
from llm_compare.modelbuild.corpus import load_stdlib_documents
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine.engine import InferenceEngine

SHORT_PROMPT = (
    'def read_config(path):\n    """Read a configuration file and return a dictionary of its settings."""\n'
)
DECODE_CTX = 256  # room for the short prompt and tg128; llama-bench's tg128 context, padded as llama.cpp does
# llama.cpp's OpenMP threads spin for 10–20 ms after each llama_decode before they sleep. A path
# started sooner shares the 2 cores with the previous path's threads (this process's for the
# in-process paths): that put the engine, which ran right after Llama.generate's 512-token
# prompt, 5 ms behind the low-level loop in short-prompt TTFT. Every run starts this long after
# the last one instead.
SETTLE_S = 0.2
NO_SAMPLING = "low-level loop, no sampling"
C_NO_SAMPLING, C_GREEDY = "C loop, no sampling", "C loop, C greedy sampler"
OURS = "our generation loop"


# --- llama-bench, built once from llama-cpp-python's own llama.cpp sources -----------------------


def llama_bench(
    binary: Path, model: Path, threads: int, prompt_tokens: int, tokens: int, depth: int
) -> tuple[float, float, float]:
    """tg<tokens> after `depth` tokens already in the context (`-d`: the positions our paths decode
    at, after their short prompt), tg<tokens> in an empty context (llama-bench's plain figure) and
    pp<prompt_tokens>: (decode tok/s at depth, decode tok/s, prefill tok/s). Each the second of
    two repetitions, as every path's figure is the second of two runs (see `measured`)."""

    def run(*test: str) -> list[float]:
        done = subprocess.run(
            [str(binary), "-m", str(model), "-t", str(threads), *test, "-r", "2", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return [entry["samples_ts"][-1] for entry in json.loads(done.stdout)]

    at_depth, empty = run("-p", "0", "-n", str(tokens), "-d", f"{depth},0")
    (prefill,) = run("-p", str(prompt_tokens), "-n", "0")
    return at_depth, empty, prefill


# --- the plain low-level loop: the reference for what Python can do ------------------------------


class LowLevelLoop:
    """llama-cpp-python's low-level API driven as llama-bench drives llama.cpp: the prompt in one
    llama_decode, then one llama_decode per token, greedy by a C sampler."""

    def __init__(self, path: Path, threads: int, n_ctx: int, c_loop=None):
        import llama_cpp as L
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's errors only
        self.L = L
        L.llama_backend_init()
        self.model = L.llama_model_load_from_file(str(path).encode(), L.llama_model_default_params())
        params = L.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_threads, params.n_threads_batch = (
            n_ctx,
            n_ctx,
            threads,
            threads,
        )
        self.n_ctx = n_ctx
        self.ctx = L.llama_init_from_model(self.model, params)
        self.vocab = L.llama_model_get_vocab(self.model)
        self.bos = max(
            L.llama_vocab_bos(self.vocab), 0
        )  # the fixed token; llama-bench starts from BOS, then draws at random
        self.sampler = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        L.llama_sampler_chain_add(self.sampler, L.llama_sampler_init_greedy())
        self.c_loop = c_loop  # decode_loop.c's function (llama_cpp_tools.c_decode_loop), or None
        self.c_stamps: list[tuple[float, float]] = []  # around each llama_decode of the last run in C

    def run(
        self, prompt: str, tokens: int, sample: bool = True, in_c: bool = False
    ) -> tuple[float, float | None]:
        """(TTFT s, decode tok/s) with the text tokenized inside the timing, as the engine does.
        Without `sample`, it decodes one fixed token after another, as llama-bench's tg does: what
        sampling costs is then the difference. `in_c`: the same loop after the prompt, in C
        (decode_loop.c), on this context: what it gains is what the Python loop costs."""
        L = self.L
        L.llama_memory_clear(L.llama_get_memory(self.ctx), False)  # as llama-bench and our backend do
        t_request = perf_counter()
        data = prompt.encode()
        ids = (L.llama_token * self.n_ctx)()
        n = L.llama_tokenize(self.vocab, data, len(data), ids, self.n_ctx, True, True)
        L.llama_decode(self.ctx, L.llama_batch_get_one(ids, n))
        if in_c:
            starts, ends = (ctypes.c_double * tokens)(), (ctypes.c_double * tokens)()
            status = self.c_loop(self.ctx, self.sampler if sample else None, self.bos, tokens, starts, ends)
            assert status == 0, f"llama_decode returned {status}"
            self.c_stamps = list(zip(starts, ends))
            return starts[0] - t_request, decode_tps(list(starts))
        token, times = (L.llama_token * 1)(), []
        for _ in range(tokens):
            if sample:
                token[0] = L.llama_sampler_sample(self.sampler, self.ctx, -1)
            else:
                L.llama_synchronize(self.ctx)
                token[0] = self.bos
            times.append(perf_counter())
            L.llama_decode(self.ctx, L.llama_batch_get_one(token, 1))
        return times[0] - t_request, decode_tps(times)

    def count(self, prompt: str) -> int:
        data = prompt.encode()
        ids = (self.L.llama_token * self.n_ctx)()
        return abs(
            self.L.llama_tokenize(self.vocab, data, len(data), ids, self.n_ctx, True, True)
        )  # < 0: that many, too many

    def close(self) -> None:
        self.L.llama_sampler_free(self.sampler)
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


# --- where a token's time goes: inside llama_decode, and in Python between two calls ---------------


class DecodeClock:
    """Stamps every llama_decode call made in this process, by wrapping llama-cpp-python's binding
    (our backend and the low-level loop look it up when a run starts). The time between the end of
    one call and the start of the next is what Python adds to llama.cpp's own time per token; it is
    measured within the same tokens as the decode itself, so the host's drift, which swamps a 3 %
    difference between runs seconds apart, moves both alike. The wrapper's own cost (two clock
    reads) counts as Python time, the same on every path."""

    def __init__(self):
        import llama_cpp as L

        self.L, self.real, self.calls = L, L.llama_decode, []

    def __enter__(self) -> Self:
        real, calls = self.real, self.calls

        def timed(ctx, batch):
            start = perf_counter()
            status = real(ctx, batch)
            calls.append((start, perf_counter()))
            return status

        self.L.llama_decode = timed
        return self

    def __exit__(self, *_) -> None:
        self.L.llama_decode = self.real

    def measure(self, run) -> list[tuple[float, float]]:
        """(start, end) of each token's llama_decode call in one `run()`; the prompt's call, the
        first, is left out."""
        self.calls.clear()
        run()
        return self.calls[1:]


def token_times(stamps: list[tuple[float, float]]) -> tuple[float, float, float]:
    """From the (start, end) of each token's llama_decode call: median µs inside a call, median µs
    between two calls, and the decode tok/s they make."""
    inside = [end - start for start, end in stamps]
    between = [start - end for (_, end), (start, _) in itertools.pairwise(stamps)]
    return (
        1e6 * statistics.median(inside),
        1e6 * statistics.median(between),
        decode_tps([start for start, _ in stamps]),
    )


def between_decodes(
    model, low: LowLevelLoop, threads: int, tokens: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per path, per round: µs inside llama_decode, µs between two calls and decode tok/s, for the
    loop that only decodes (what llama-bench's tg does) and the loop with a C greedy sampler, each
    in C (when it could be compiled) and in Python, and for our generation loop (the GGUF backend
    as the engine's worker runs it, here in this process). The loops share one context; our
    generation loop runs on the backend's own, made with the same settings."""
    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=tokens, n_threads=threads, n_ctx=DECODE_CTX)
    backend = create_inferencer(model, config)
    backend.load()
    backend.warm_up()

    token_loop = backend._token_loop

    def generation_loop() -> list[float]:
        """When each token was drawn: the backend's llama_decode calls are made in its C token loop,
        out of DecodeClock's sight, so its row has speeds only."""
        drawn_at: list[float] = []

        def timed(*args) -> int:
            drawn = token_loop(*args)
            drawn_at.extend(backend._drawn_at[:drawn])
            return drawn

        backend._token_loop = timed
        result = backend.answer(
            prompt=SHORT_PROMPT,
            system_prompt=None,
            config=config,
            cancelled=lambda: False,
            emit=lambda text, count: None,
            load_s=0.0,
            warm=True,
        )
        backend._token_loop = token_loop
        assert result.error is None and result.stats.completion_tokens == tokens, result.error
        return drawn_at

    paths = {
        NO_SAMPLING: lambda: low.run(SHORT_PROMPT, tokens, sample=False),
        "low-level loop": lambda: low.run(SHORT_PROMPT, tokens),
    }
    in_c = (
        {
            C_NO_SAMPLING: lambda: low.run(SHORT_PROMPT, tokens, sample=False, in_c=True),
            C_GREEDY: lambda: low.run(SHORT_PROMPT, tokens, in_c=True),
        }
        if low.c_loop
        else {}
    )
    figures = {name: {"inside": [], "between": [], "tps": []} for name in [*in_c, *paths, OURS]}
    try:
        with DecodeClock() as clock:
            for round_ in range(rounds + 1):  # round 0 warms up
                for name in rotated(list(figures), round_):
                    settle()
                    if name == OURS:
                        if round_:
                            figures[name]["tps"].append(decode_tps(generation_loop()))
                        continue
                    if name in in_c:
                        in_c[name]()
                        stamps = low.c_stamps
                    else:
                        stamps = clock.measure(paths[name])
                    if round_:
                        for key, value in zip(("inside", "between", "tps"), token_times(stamps)):
                            figures[name][key].append(value)
    finally:
        backend.unload()
    return figures


def decode_tps(times: list[float]) -> float | None:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None


def through_engine(engine: InferenceEngine, model, threads: int, n_ctx: int):
    def run(prompt: str, tokens: int) -> tuple[float, float | None]:
        config = ModelConfig(temperature=0.0, mode="raw", max_tokens=tokens, n_threads=threads, n_ctx=n_ctx)
        result = next(e.result for e in engine.run(prompt, [model], {model.id: config}) if e.kind == "done")
        assert result.error is None, result.error
        assert result.stats.completion_tokens == tokens, "the random model ended its answer early"
        return result.stats.ttft_s, result.stats.decode_tps

    return run


def measured(run, prompt: str, tokens: int) -> tuple[float, float | None]:
    """The second of two runs back to back. llama-bench measures after its process has loaded the
    model, warmed up and processed the depth prompt, busy for a tenth of a second or more; a path
    measured right after `settle`'s sleep with a one-token warm-up came out 1.5–2.5 % slower than
    the same path measured right after a whole run (three paired experiments, 25–40 rounds each)."""
    run(prompt, tokens)
    return run(prompt, tokens)


def prompt_of(tokens: int, count) -> str:
    """Standard-library source cut to the longest prefix of at most `tokens` tokens (BOS included)."""
    text = "".join(d.text for d in load_stdlib_documents(20 * tokens))
    low, high = 0, 20 * tokens
    while low < high:  # longest prefix whose token count fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if count(text[:middle]) <= tokens else (low, middle - 1)
    return text[:low]


def settle() -> None:
    """Start the next run on a quiet machine: no other path's threads still spinning, and this
    process's garbage collected now, not inside the next in-process path's timing (with torch
    imported for the model build, a full collection of this process's ~360,000 objects took over
    100 ms, against a 15 ms TTFT). Frozen afterwards, so later collections skip those objects."""
    gc.collect()
    gc.freeze()
    sleep(SETTLE_S)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def build_models(folder: Path, q8_0: Path) -> None:
    """Build the random LLaMA, in a child process: building imports torch, and torch's own copy of
    libgomp.so.1 would then serve llama.cpp's OpenMP threads in this process, where the low-level
    loop and Llama.generate run, while llama-bench and the engine's worker use the system's."""
    from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf
    from llm_compare.modelbuild.tiny import build_random_llama

    built = build_random_llama(
        folder, hidden=512, layers=6, heads=8, intermediate=1408, vocab=8192, name="bench-llama"
    )
    export_gguf(built.hf_dir, q8_0, GGUFType.Q8_0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--without-llama-bench", action="store_true", help="measure only the Python paths")
    parser.add_argument(
        "--models", type=Path, help="keep the built models in this folder and reuse them next time"
    )
    args = parser.parse_args()
    bench = None if args.without_llama_bench else llama_cpp_tool("llama-bench")
    c_loop = c_decode_loop()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.models or Path(scratch)
        q8_0 = Path(tmp) / "bench-llama-q8_0.gguf"
        if not q8_0.exists():
            print("building a random LLaMA as f32 and Q8_0 GGUF ...", flush=True)
            builder = multiprocessing.get_context("spawn").Process(
                target=build_models, args=(Path(tmp), q8_0)
            )
            builder.start()
            builder.join()
            if builder.exitcode:
                raise SystemExit(f"building the benchmark model failed (exit code {builder.exitcode})")
        assert "torch" not in sys.modules, (
            "torch in the measuring process would change llama.cpp's OpenMP runtime"
        )
        by_name = {m.name: m for m in ModelManager([tmp]).scan()}
        engine = InferenceEngine()
        figures: dict[str, dict[str, dict[str, list[float]]]] = {}
        within: dict[str, dict[str, dict[str, list[float]]]] = {}
        try:
            for label, name in (("f32", "bench-llama-f32"), ("Q8_0", "bench-llama-q8_0")):
                model = by_name[name]
                parameters = model.metadata.parameters or 0
                path = Path(model.path)
                # pp<n> runs in a context of n tokens: the prompt leaves room for the one token generated.
                prefill_ctx = args.prompt_tokens
                lows = (
                    LowLevelLoop(path, args.threads, DECODE_CTX, c_loop),
                    LowLevelLoop(path, args.threads, prefill_ctx),
                )
                long_prompt = prompt_of(prefill_ctx - 1, lows[1].count)
                n_long = lows[1].count(long_prompt)
                paths = {  # per path: (its decode run, its prefill run or None)
                    "low-level loop": (lows[0].run, lows[1].run),
                    NO_SAMPLING: (functools.partial(lows[0].run, sample=False), None),
                    **(
                        {C_NO_SAMPLING: (functools.partial(lows[0].run, sample=False, in_c=True), None)}
                        if c_loop
                        else {}
                    ),
                    "Llama.generate": (
                        llama_generate(path, DECODE_CTX, args.threads),
                        llama_generate(path, prefill_ctx, args.threads),
                    ),
                    "engine": (
                        through_engine(engine, model, args.threads, DECODE_CTX),
                        through_engine(engine, model, args.threads, prefill_ctx),
                    ),
                }
                rows = figures[label] = {
                    p: {"tg": [], "tg_d0": [], "pp": [], "ttft_short": [], "ttft_long": []}
                    for p in (["llama-bench"] if bench else []) + list(paths)
                }
                depth = lows[0].count(SHORT_PROMPT)  # where the short prompt leaves the paths' decoding
                contenders = list(rows)
                for round_ in range(args.rounds + 1):  # round 0 warms every path up and is not counted
                    for name_ in rotated(contenders, round_):
                        settle()
                        if name_ == "llama-bench":
                            tg, tg_d0, pp = llama_bench(bench, path, args.threads, n_long, args.tokens, depth)
                            if round_:
                                for key, value in (("tg", tg), ("tg_d0", tg_d0), ("pp", pp)):
                                    rows[name_][key].append(value)
                            continue
                        decode_run, prefill_run = paths[name_]
                        ttft_short, tps = measured(decode_run, SHORT_PROMPT, args.tokens)
                        if round_:
                            rows[name_]["tg"].append(tps)
                            rows[name_]["ttft_short"].append(1000 * ttft_short)
                        if prefill_run is None:
                            continue
                        settle()
                        ttft_long, _ = measured(prefill_run, long_prompt, 1)
                        if round_:
                            rows[name_]["pp"].append(n_long / ttft_long)
                            rows[name_]["ttft_long"].append(1000 * ttft_long)
                within[label] = between_decodes(model, lows[0], args.threads, args.tokens, args.rounds)
                for low in lows:
                    low.close()
        finally:
            engine.shutdown()
    load_after = os.getloadavg()
    print(
        f"\n{parameters / 1e6:.1f} M parameters, {args.threads} threads, greedy, tg{args.tokens} after a "
        f"short prompt of {depth} tokens (llama-bench: tg{args.tokens} @ d{depth}, and in an empty context), "
        f"pp{n_long} from TTFT; each figure the second of two runs back to back; {args.rounds} alternating "
        f"rounds after one warm-up round; medians (min–max). Load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.\n"
    )
    print(
        "| file | path | decode tok/s | decode tok/s, empty context | prefill tok/s | TTFT ms, short prompt "
        "| TTFT ms, long prompt |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, rows in figures.items():
        for path_name, row in rows.items():
            cells = [
                spread(row[key]) if row[key] else ""
                for key in ("tg", "tg_d0", "pp", "ttft_short", "ttft_long")
            ]
            print(f"| {label} | {path_name} | " + " | ".join(cells) + " |")
    print("\nPer-round ratios (paired.py), median (interquartile range):\n")
    print(
        f"| file | engine decode / llama-bench tg{args.tokens} @ d{depth} | engine decode / llama-bench "
        f"tg{args.tokens} | engine prefill / llama-bench pp | engine decode / low-level loop | engine "
        "prefill / low-level loop | TTFT ms, engine − low-level loop (short; long prompt) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, rows in figures.items():
        engine_, low_ = rows["engine"], rows["low-level loop"]
        bench_ = rows.get("llama-bench")
        versus_bench = (
            " | ".join(
                paired_ratio(engine_[mine], bench_[theirs])
                for mine, theirs in (("tg", "tg"), ("tg", "tg_d0"), ("pp", "pp"))
            )
            if bench_
            else "not measured | not measured | not measured"
        )
        ttft = "; ".join(paired_difference(engine_[k], low_[k]) for k in ("ttft_short", "ttft_long"))
        print(
            f"| {label} | {versus_bench} | {paired_ratio(engine_['tg'], low_['tg'])} | "
            f"{paired_ratio(engine_['pp'], low_['pp'])} | {ttft} |"
        )
    if bench:
        print(
            f"\nWhere the decode gap lies, per-round ratios to llama-bench tg{args.tokens} @ d{depth} "
            "(llama-bench's tg never samples):\n"
        )
        gap_paths = ([C_NO_SAMPLING] if c_loop else []) + [NO_SAMPLING, "low-level loop", "engine"]
        print("| file | " + " | ".join(gap_paths) + " |")
        print("|---" * (len(gap_paths) + 1) + "|")
        for label, rows in figures.items():
            cells = [paired_ratio(rows[name_]["tg"], rows["llama-bench"]["tg"]) for name_ in gap_paths]
            print(f"| {label} | " + " | ".join(cells) + " |")

    print(
        "\nWhere a token's time goes, in this process (DecodeClock; the C loops stamp their own calls): per "
        f"token, the median over its tokens; then the median (min–max) over {args.rounds} alternating "
        "rounds. `share` is the speed the path would have if nothing ran between two llama_decode calls; "
        "the last column compares whole speeds with the C loop that only decodes, on the same context, "
        "round by round.\n"
    )
    print(
        f"| file | path | inside llama_decode, µs | between two calls, µs | between, minus the {NO_SAMPLING} "
        f"(paired) | llama_decode's share of a token | decode tok/s / {C_NO_SAMPLING} |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, paths in within.items():
        base = paths[NO_SAMPLING]["between"]
        for name_, row in paths.items():
            shares = [inside / (inside + between) for inside, between in zip(row["inside"], row["between"])]
            versus_c = (
                paired_ratio(row["tps"], paths[C_NO_SAMPLING]["tps"])
                if C_NO_SAMPLING in paths
                else "not measured"
            )
            if not row["between"]:  # our generation loop, whose calls are made in C
                print(f"| {label} | {name_} | | | | | {versus_c} |")
                continue
            print(
                f"| {label} | {name_} | {spread(row['inside'])} | {spread(row['between'])} | "
                f"{paired_difference(row['between'], base)} | {median_and_quartiles(shares, '{:.3f}')} | "
                f"{versus_c} |"
            )


if __name__ == "__main__":
    main()
