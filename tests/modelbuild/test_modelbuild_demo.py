import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from llm_compare.modelbuild.demo import RECIPES, REPORT_FILE_NAME, build_demo, training_threads
from llm_compare.modelbuild.llama import llama_config
from llm_compare.modelbuild.train import train_llama
from llm_compare.services.discovery.demo_build import demo_needed
from llm_compare.services.discovery.model_manager import ModelManager


@pytest.mark.slow
def test_smoke_demo_trains_exports_and_reports(tmp_path, open_gguf):
    calls: list[tuple[str, float]] = []
    report = build_demo(
        tmp_path, progress=lambda stage, fraction: calls.append((stage, fraction)), size="smoke"
    )

    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("training ") for stage, _ in calls)

    assert json.loads((tmp_path / "demo" / REPORT_FILE_NAME).read_text()) == report.to_dict()
    model = report.models[0]
    assert model.name.startswith("stdlib-llama-")
    # Training moved the model well below a uniform guess over its vocabulary (9 bits per token).
    assert 0 < model.heldout_bits_per_byte < 9 * report.heldout_tokens / report.heldout_text_bytes

    # The trained weights export exactly too: same greedy tokens through both backends. The barely
    # trained model's top logits can be close, so llama.cpp gets an exact (f32) KV cache here.
    tokenizer = AutoTokenizer.from_pretrained(model.hf_dir)
    hf_model = AutoModelForCausalLM.from_pretrained(model.hf_dir, dtype=torch.float32).eval()
    ids = tokenizer("import os\n")["input_ids"]
    with torch.no_grad():
        expected = hf_model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=10)[0, len(ids) :]
    llm = open_gguf(model.gguf_f32, f32_kv_cache=True)
    got = [t for _, t in zip(range(len(expected)), llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0))]
    assert got == expected.tolist()
    assert open_gguf(model.gguf_q8_0).n_vocab() == model.vocab_size


@pytest.mark.slow
def test_same_recipe_trains_the_same_weights(tmp_path):
    first = build_demo(tmp_path / "a", size="smoke").models[0]
    second = build_demo(tmp_path / "b", size="smoke").models[0]
    assert first.heldout_bits_per_byte == second.heldout_bits_per_byte
    assert Path(first.gguf_q8_0).read_bytes() == Path(second.gguf_q8_0).read_bytes()


def usable_names(models_dir: Path) -> list[str]:
    """What discovery lists there; every listed model must be whole (usable)."""
    found = ModelManager([models_dir]).scan()
    assert all(m.usable for m in found), [(m.name, m.error) for m in found]
    return sorted(m.name for m in found)


def formats(name: str) -> list[str]:
    return sorted([name, f"{name}-f32", f"{name}-q8_0"])


@pytest.mark.slow
def test_models_are_written_smallest_first_each_whole_before_the_next_starts(tmp_path):
    listed_at_progress: list[list[str]] = []
    ready: list[str] = []

    def on_ready(name: str) -> None:
        # The model's three files are in place and discovery takes them; nothing of the next yet.
        assert usable_names(tmp_path) == sorted(sum((formats(n) for n in [*ready, name]), []))
        ready.append(name)

    # Meanwhile, discovery looks again and again, as a dashboard might at any moment.
    seen_half: list[list[tuple[str, str | None]]] = []
    building = threading.Event()
    building.set()

    def keep_scanning() -> None:
        while building.is_set():
            found = ModelManager([tmp_path]).scan()
            if not all(m.usable for m in found):
                seen_half.append([(m.name, m.error) for m in found])

    scanner = threading.Thread(target=keep_scanning)
    scanner.start()
    try:
        report = build_demo(
            tmp_path,
            progress=lambda stage, fraction: listed_at_progress.append(usable_names(tmp_path)),
            model_ready=on_ready,
            size="smoke",
        )
    finally:
        building.clear()
        scanner.join()
    assert seen_half == []

    # The smoke recipe lists its larger model first; the build still starts with the smaller.
    assert [spec.shape.hidden_size for spec in RECIPES["smoke"].models] == [48, 32]
    assert ready == [m.name for m in report.models] and len(ready) == 2
    assert report.models[0].parameters < report.models[1].parameters
    # Never half a model: at every progress step each listed model was usable, and models only
    # ever appeared in threes.
    assert all(len(names) % 3 == 0 for names in listed_at_progress)
    assert usable_names(tmp_path) == sorted(formats(ready[0]) + formats(ready[1]))
    assert not [p.name for p in (tmp_path / "demo").iterdir() if p.name.startswith(".")]  # no leftovers
    assert report.complete and json.loads((tmp_path / "demo" / REPORT_FILE_NAME).read_text())["complete"]


@pytest.mark.slow
def test_an_interrupted_build_keeps_its_finished_models_and_builds_the_rest(tmp_path):
    def stop_at_second_model(stage: str, fraction: float) -> None:
        if stage.startswith("training ") and (tmp_path / "demo" / REPORT_FILE_NAME).exists():
            raise KeyboardInterrupt  # Ctrl-C while the second model trains

    with pytest.raises(KeyboardInterrupt):
        build_demo(tmp_path, progress=stop_at_second_model, size="smoke")
    partial = json.loads((tmp_path / "demo" / REPORT_FILE_NAME).read_text())
    assert not partial["complete"] and len(partial["models"]) == 1
    assert demo_needed(tmp_path)
    first = Path(partial["models"][0]["gguf_q8_0"])
    written_at = first.stat().st_mtime_ns

    ready: list[str] = []
    stages: list[str] = []
    report = build_demo(
        tmp_path, size="smoke", model_ready=ready.append, progress=lambda s, f: stages.append(s)
    )

    assert ready == [m.name for m in report.models] and report.models[0].name == partial["models"][0]["name"]
    # Only the missing model was trained; the finished one was kept as it was.
    assert {s for s in stages if s.startswith("training stdlib")} == {f"training {report.models[1].name}"}
    assert first.stat().st_mtime_ns == written_at
    assert report.complete and not demo_needed(tmp_path)


@pytest.mark.slow
def test_the_thread_count_does_not_change_the_trained_weights():
    # The build trains with one thread on a busy machine and two on an idle one: same demo models.
    spec = RECIPES["full"].models[0]  # the first one a new user gets
    data = np.random.default_rng(0).integers(0, spec.shape.vocab_size, 100_000)
    weights = []
    for threads in (1, 2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.train.seed)
            model = LlamaForCausalLM(llama_config(spec.shape, eos_token_id=0, pad_token_id=0))
        train_llama(model, data, replace(spec.train, steps=3, threads=threads))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


@pytest.mark.alone  # a spinner on every core
def test_a_busy_machine_trains_with_one_thread():
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)
    ]
    try:
        deadline = time.monotonic() + 60
        while min(sum(psutil.Process(s.pid).cpu_times()[:2]) for s in spinners) < 0.2:  # all spinning
            assert time.monotonic() < deadline, "the spinners did not get the CPU"
            time.sleep(0.05)
        assert training_threads(2) == 1
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
