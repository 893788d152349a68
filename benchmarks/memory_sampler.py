"""What does the worker's memory sampler cost generation? Decode tokens/s of a GGUF model through
the shared generation loop, in this process, alternating runs with no sampler, with the sampler
at its after-load interval, and at its loading interval; and the CPU time of one reading and of
the sampler at each interval, with this process otherwise asleep.

    python benchmarks/memory_sampler.py MODEL.gguf [--runs 9] [--tokens 256]
"""

from __future__ import annotations

import argparse
import statistics
import time
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.inferencers.base import create_inferencer
from llm_compare.inferencers.generation import run_generation
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.system.memory_use import IDLE_INTERVAL_S, LOAD_INTERVAL_S, PeakMemorySampler, read_memory

PROMPT = 'def read_config(path):\n    """Read a configuration file and return its settings."""\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()

    reads = 2000
    start = perf_counter()
    for _ in range(reads):
        read_memory()
    print(f"one reading of /proc/self/status: {(perf_counter() - start) / reads * 1e6:.0f} µs")
    for interval in (IDLE_INTERVAL_S, LOAD_INTERVAL_S):  # CPU time, which a busy machine does not blur
        cpu_before, wall_before = time.process_time(), perf_counter()
        sampler = PeakMemorySampler(interval_s=interval).start()
        time.sleep(5)
        sampler.stop()
        share = (time.process_time() - cpu_before) / (perf_counter() - wall_before)
        print(f"sampler every {interval * 1000:.0f} ms: {share:.3%} of one core")

    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=args.tokens, n_ctx=args.tokens + 64)
    inferencer = create_inferencer(ModelManager([]).inspect(args.model), config)
    inferencer.load()
    inferencer.warm_up()
    inferencer.set_threads(2)
    settings = {"no sampler": None, f"every {IDLE_INTERVAL_S * 1000:.0f} ms": IDLE_INTERVAL_S}
    settings[f"every {LOAD_INTERVAL_S * 1000:.0f} ms"] = LOAD_INTERVAL_S
    speeds: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.runs):  # alternating, so drift on a busy machine falls on every setting
        for name, interval in settings.items():
            sampler = PeakMemorySampler(interval_s=interval).start() if interval else None
            result = run_generation(
                inferencer,
                prompt=PROMPT,
                system_prompt=None,
                config=config,
                cancelled=lambda: False,
                emit=lambda text, tokens: None,
                load_s=0.0,
                warm=True,
            )
            if sampler is not None:
                sampler.stop()
            speeds[name].append(result.stats.decode_tps)
    print(f"decode tok/s over {args.runs} alternating runs of {args.tokens} tokens, 2 threads:")
    for name, values in speeds.items():
        median = statistics.median(values)
        print(f"  {name:>14}: median {median:8.1f}  (min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
