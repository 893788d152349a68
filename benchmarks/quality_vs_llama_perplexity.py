"""Does our likelihood scoring agree with llama.cpp's `llama-perplexity`, and run as fast? On the same
GGUF file, text, context and threads, in alternating rounds:

- `llama-perplexity -m GGUF -f TEXT -c CTX -t THREADS` (built once from llama-cpp-python's own
  llama.cpp sources, see llama_cpp_tools.py): its "Final estimate" PPL, and tokens scored per second
  of its prompt evaluation time;
- `llm-compare score` through the InferenceEngine (worker process): ppl and tokens scored per second
  of evaluation.

Targets: our ppl within 0.5 % of llama-perplexity's; our speed at least 0.9 of it.

    python benchmarks/quality_vs_llama_perplexity.py [--gguf FILE] [--text FILE] [--ctx 256]
        [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sysconfig
from pathlib import Path

from llama_cpp_tools import llama_cpp_tool  # benchmarks/ is on the path when this script runs

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.quality.scoring import Scoring
from llm_compare.services.quality.texts import text_from_spec

DEFAULT_GGUF = Path("models/demo/stdlib-llama-1.4m-f32.gguf")
DEFAULT_TEXT = Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py"
_FINAL = re.compile(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)")
# llama.cpp's log lines start with a timestamp, minutes.seconds.milliseconds.microseconds.
_STAMP = r"(\d+)\.(\d+)\.(\d+)\.(\d+) I "
_START = re.compile(_STAMP + r"perplexity: calculating perplexity over (\d+) chunks")
_END = re.compile(_STAMP + r"Final estimate")


def llama_perplexity(
    binary: Path, gguf: Path, text: Path, ctx: int, threads: int
) -> tuple[float, float, float]:
    """(ppl, its error, tokens scored per second): its speed is over the wall time of its whole scoring
    loop (batches decoded and their logits read), as ours is, from its own log's timestamps."""
    done = subprocess.run(
        [str(binary), "-m", str(gguf), "-f", str(text), "-c", str(ctx), "-t", str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    log = done.stdout + done.stderr
    final, start, end = _FINAL.search(log), _START.search(log), _END.search(log)
    if final is None or start is None or end is None:
        raise RuntimeError(f"llama-perplexity printed no final estimate:\n{log[-2000:]}")
    scored = int(start.group(5)) * (ctx - 1 - ctx // 2)
    return float(final.group(1)), float(final.group(2)), scored / (_seconds(end) - _seconds(start))


def _seconds(stamp: re.Match) -> float:
    minutes, seconds, ms, us = (int(stamp.group(i)) for i in range(1, 5))
    return minutes * 60 + seconds + ms / 1e3 + us / 1e6


def ours(engine: InferenceEngine, model, text: Path, ctx: int, threads: int) -> tuple[float, float, float]:
    scoring = Scoring(
        engine,
        [model],
        text_from_spec(str(text)),
        n_ctx=ctx,
        configs={model.id: ModelConfig(n_threads=threads)},
    )
    for _ in scoring.events():
        pass
    result = scoring.results[0]
    if result.status != "scored":
        raise RuntimeError(f"scoring failed: {result.error}")
    return result.ppl, result.ppl_se, result.scored_tps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = llama_cpp_tool("llama-perplexity")
    if binary is None:
        raise SystemExit(1)
    model = ModelManager([args.gguf.parent]).get(str(args.gguf))
    engine = InferenceEngine()
    theirs_runs, our_runs = [], []
    try:
        for round_number in range(args.rounds):
            theirs_runs.append(llama_perplexity(binary, args.gguf, args.text, args.ctx, args.threads))
            our_runs.append(ours(engine, model, args.text, args.ctx, args.threads))
            print(
                f"round {round_number + 1}: llama-perplexity {theirs_runs[-1][2]:,.0f} tok/s, ours "
                f"{our_runs[-1][2]:,.0f} tok/s",
                flush=True,
            )
    finally:
        engine.shutdown()
    their_ppl, their_se, _ = theirs_runs[0]
    our_ppl, our_se, _ = our_runs[0]
    their_speed = statistics.median(run[2] for run in theirs_runs)
    our_speed = statistics.median(run[2] for run in our_runs)
    ratios = [ours_run[2] / theirs_run[2] for theirs_run, ours_run in zip(theirs_runs, our_runs)]
    print(
        f"\n{args.gguf.name}, {args.text.name}, ctx {args.ctx}, {args.threads} threads, median of "
        f"{args.rounds} rounds"
    )
    print("| | ppl | tokens scored/s, median (min–max) |")
    print("| --- | ---: | ---: |")
    print(
        f"| llama-perplexity | {their_ppl:.4f} ± {their_se:.4f} | {their_speed:,.0f} "
        f"({_spread(theirs_runs)}) |"
    )
    print(f"| llm-compare score | {our_ppl:.4f} ± {our_se:.4f} | {our_speed:,.0f} ({_spread(our_runs)}) |")
    print(f"\nppl: ours / theirs = {our_ppl / their_ppl:.5f} (target: within 0.5 %)")
    print(
        f"speed: ours / theirs = {our_speed / their_speed:.2f}, per round "
        f"{min(ratios):.2f}–{max(ratios):.2f} (target: at least 0.9)"
    )


def _spread(runs: list[tuple[float, float, float]]) -> str:
    speeds = [run[2] for run in runs]
    return f"{min(speeds):,.0f}–{max(speeds):,.0f}"


if __name__ == "__main__":
    main()
