"""Does our likelihood scoring agree with llama.cpp's `llama-perplexity`, and run as fast? On the same
GGUF file, text, context and threads, in alternating rounds:

- `llama-perplexity -m GGUF -f TEXT -c CTX -t THREADS` (built once from llama-cpp-python's own
  llama.cpp sources, see llama_cpp_tools.py): its "Final estimate" PPL, and tokens scored per second
  of its prompt evaluation time;
- `llm-compare score` through the InferenceEngine (worker process): ppl and tokens scored per second
  of evaluation.

Targets: our ppl within 0.5 % of llama-perplexity's; our speed at least 0.9 of it.

    python benchmarks/quality_vs_llama_perplexity.py [--gguf FILE] [--text FILE] [--ctx 256] [--threads 2] [--rounds 3]
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
_PROMPT_EVAL = re.compile(r"prompt eval time =\s+([0-9.]+) ms /\s+(\d+) tokens")


def llama_perplexity(binary: Path, gguf: Path, text: Path, ctx: int, threads: int) -> tuple[float, float, float]:
    """(ppl, its error, tokens scored per second of prompt evaluation)."""
    done = subprocess.run([str(binary), "-m", str(gguf), "-f", str(text), "-c", str(ctx), "-t", str(threads)],
                          capture_output=True, text=True, check=True)
    log = done.stdout + done.stderr
    final, timing = _FINAL.search(log), _PROMPT_EVAL.search(log)
    if final is None or timing is None:
        raise RuntimeError(f"llama-perplexity printed no final estimate:\n{log[-2000:]}")
    evaluated = int(timing.group(2))
    scored = evaluated // ctx * (ctx - 1 - ctx // 2)
    return float(final.group(1)), float(final.group(2)), scored / (float(timing.group(1)) / 1000)


def ours(engine: InferenceEngine, model, text: Path, ctx: int, threads: int) -> tuple[float, float, float]:
    scoring = Scoring(engine, [model], text_from_spec(str(text)), n_ctx=ctx, configs={model.id: ModelConfig(n_threads=threads)})
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
            print(f"round {round_number + 1}: llama-perplexity {theirs_runs[-1][2]:,.0f} tok/s, ours {our_runs[-1][2]:,.0f} tok/s", flush=True)
    finally:
        engine.shutdown()
    their_ppl, their_se, _ = theirs_runs[0]
    our_ppl, our_se, _ = our_runs[0]
    their_speed = statistics.median(run[2] for run in theirs_runs)
    our_speed = statistics.median(run[2] for run in our_runs)
    print(f"\n{args.gguf.name}, {args.text.name}, ctx {args.ctx}, {args.threads} threads, median of {args.rounds} rounds")
    print("| | ppl | tokens scored/s |")
    print("| --- | ---: | ---: |")
    print(f"| llama-perplexity | {their_ppl:.4f} ± {their_se:.4f} | {their_speed:,.0f} |")
    print(f"| llm-compare score | {our_ppl:.4f} ± {our_se:.4f} | {our_speed:,.0f} |")
    print(f"\nppl: ours / theirs = {our_ppl / their_ppl:.5f} (target: within 0.5 %)")
    print(f"speed: ours / theirs = {our_speed / their_speed:.2f} (target: at least 0.9)")


if __name__ == "__main__":
    main()
