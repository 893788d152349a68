import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm_compare.modelbuild.demo import REPORT_FILE_NAME, build_demo


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


def test_same_recipe_trains_the_same_weights(tmp_path):
    first = build_demo(tmp_path / "a", size="smoke").models[0]
    second = build_demo(tmp_path / "b", size="smoke").models[0]
    assert first.heldout_bits_per_byte == second.heldout_bits_per_byte
    assert Path(first.gguf_q8_0).read_bytes() == Path(second.gguf_q8_0).read_bytes()
