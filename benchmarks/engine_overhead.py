"""How much does the engine cost? Decode tokens/s and TTFT of a ~28 M-parameter random LLaMA,
through each raw backend (llama_cpp.Llama.generate, transformers generate) and through
InferenceEngine (worker process, pipe, shared generation loop), alternating raw and engine runs.

    python benchmarks/engine_overhead.py [--runs 7] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine.engine import InferenceEngine

PROMPT = (
    'def read_config(path):\n    """Read a configuration file and return a dictionary of its settings."""\n'
)
THREADS = 2


def llama_generate(path: Path, n_ctx: int = 512, threads: int = THREADS):
    """A run of llama-cpp-python's `Llama.generate`, greedy: (TTFT s, decode tok/s) of `tokens`
    new tokens after `prompt`, tokenized inside the timing as the engine does."""
    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )

    def run(prompt: str, tokens: int) -> tuple[float, float | None]:
        llm.reset()  # no prompt-prefix reuse, as in the engine; reset() alone leaves the KV cache full
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        t_request = perf_counter()
        prompt_ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        times = []
        for _ in llm.generate(prompt_ids, temp=0.0, top_k=40, top_p=0.95, min_p=0.0, reset=False):
            times.append(perf_counter())
            if len(times) == tokens:
                break
        return times[0] - t_request, (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None

    return run


def raw_llama_cpp(path: Path, tokens: int):
    run = llama_generate(path)
    return lambda: run(PROMPT, tokens)


def raw_transformers(path: Path, tokens: int):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    torch.set_num_threads(THREADS)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()

    class Clock(BaseStreamer):
        def __init__(self):
            self.times = []

        def put(self, value):
            self.times.append(perf_counter())  # the first call is the prompt itself

        def end(self):
            pass

    def run() -> tuple[float, float]:
        clock = Clock()
        t_request = perf_counter()
        input_ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])
        with torch.inference_mode():
            model.generate(
                input_ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, streamer=clock
            )
        times = clock.times[1:]
        return times[0] - t_request, (len(times) - 1) / (times[-1] - times[0])

    return run


def through_engine(engine: InferenceEngine, model, tokens: int):
    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=tokens, n_threads=THREADS, n_ctx=512)

    def run() -> tuple[float, float]:
        result = next(e.result for e in engine.run(PROMPT, [model], {model.id: config}) if e.kind == "done")
        assert result.error is None, result.error
        return result.stats.ttft_s, result.stats.decode_tps

    return run


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "low": ordered[0],
        "high": ordered[-1],
        "mean": statistics.fmean(ordered),
        "sd": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
    }


def measure(raw, engine_run, runs: int, warmup: int = 2) -> dict[str, dict[str, list[float]]]:
    for _ in range(warmup):  # warm-up runs are never counted
        raw(), engine_run()
    figures = {"raw": {"ttft": [], "tps": []}, "engine": {"ttft": [], "tps": []}}
    for _ in range(runs):
        for name, run in (("raw", raw), ("engine", engine_run)):  # alternate A and B
            ttft, tps = run()
            figures[name]["ttft"].append(ttft)
            figures[name]["tps"].append(tps)
    return figures


def main() -> None:
    from llm_compare.modelbuild.tiny import build_random_llama  # imports torch: only where a model is built

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("building a random LLaMA in both formats ...", flush=True)
        built = build_random_llama(
            Path(tmp), hidden=512, layers=6, heads=8, intermediate=1408, vocab=8192, name="bench-llama"
        )
        by_name = {m.name: m for m in ModelManager([tmp]).scan()}
        engine = InferenceEngine()
        try:
            rows = []
            for label, raw, model in (
                (
                    "GGUF f32 (llama.cpp)",
                    raw_llama_cpp(built.gguf_f32, args.tokens),
                    by_name["bench-llama-f32"],
                ),
                (
                    "PyTorch f32 (transformers)",
                    raw_transformers(built.hf_dir, args.tokens),
                    by_name["bench-llama"],
                ),
            ):
                figures = measure(raw, through_engine(engine, model, args.tokens), args.runs)
                rows.append((label, figures))
        finally:
            engine.shutdown()
    print(
        f"\n{built.parameters / 1e6:.1f} M parameters, {args.tokens} new tokens, {THREADS} threads, "
        f"{args.runs} counted runs each (after 2 warm-up runs), raw and engine alternated; min–max shown\n"
    )
    print("| backend | path | decode tok/s median (min–max) | mean ± sd | TTFT ms median (min–max) |")
    print("|---|---|---|---|---|")
    for label, figures in rows:
        for path in ("raw", "engine"):
            tps, ttft = summary(figures[path]["tps"]), summary([t * 1000 for t in figures[path]["ttft"]])
            print(
                f"| {label} | {path} | {tps['median']:.1f} ({tps['low']:.1f}–{tps['high']:.1f}) | "
                f"{tps['mean']:.1f} ± {tps['sd']:.1f} | {ttft['median']:.1f} "
                f"({ttft['low']:.1f}–{ttft['high']:.1f}) |"
            )
    print("\n| backend | engine/raw decode (ratio of medians) | TTFT overhead, engine − raw (ms, medians) |")
    print("|---|---|---|")
    for label, figures in rows:
        ratio = statistics.median(figures["engine"]["tps"]) / statistics.median(figures["raw"]["tps"])
        overhead = 1000 * (
            statistics.median(figures["engine"]["ttft"]) - statistics.median(figures["raw"]["ttft"])
        )
        print(f"| {label} | {ratio:.3f} | {overhead:+.1f} |")


if __name__ == "__main__":
    main()
