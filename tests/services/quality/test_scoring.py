"""Likelihood scoring with real tiny models in real worker processes: the figures against an
independent computation, divergence across backends, and the clear refusals."""

import dataclasses
import math

import numpy as np
import pytest

from llm_compare.core.errors import ConfigurationError
from llm_compare.inferencers.gguf import GGUFInferencer
from llm_compare.services.quality.scores import latest_scores, save_scores
from llm_compare.services.quality.scoring import Scoring
from llm_compare.services.quality.texts import ScoringText, text_from_bytes
from llm_compare.services.store.run_store import RunStore

CTX = 64  # tokens per chunk in these tests


def score(engine, models, text, reference=None, n_ctx=CTX):
    scoring = Scoring(engine, models, text, reference=reference, n_ctx=n_ctx)
    events = list(scoring.events())
    assert [e.kind for e in events if e.kind == "done"] == ["done"] * len(scoring.models)
    return {r.model_id: r for r in scoring.results}


def hand_computed(folder, text: str, n_ctx: int) -> tuple[float, float]:
    """bits per byte and ppl from transformers' own forward pass, chunked as llama-perplexity does."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = tokenizer(text)["input_ids"]
    nll, scored_bytes = [], 0
    for start in range(0, len(ids) // n_ctx * n_ctx, n_ctx):
        chunk = ids[start : start + n_ctx]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(torch.tensor([chunk])).logits[0].double(), dim=-1)
        for position in range(n_ctx // 2, n_ctx - 1):
            nll.append(-log_probs[position, chunk[position + 1]].item())
        scored_bytes += len(tokenizer.decode(chunk[n_ctx // 2 + 1 :]).encode())
    return sum(nll) / math.log(2) / scored_bytes, math.exp(sum(nll) / len(nll))


@pytest.mark.slow
def test_bits_per_byte_equals_a_hand_computation_from_the_models_logits(
    engine, tiny_models, tiny_dir, ascii_text
):
    result = score(engine, [tiny_models["hf"]], ascii_text)[tiny_models["hf"].id]
    bpb, ppl = hand_computed(tiny_dir / "tiny-llama", ascii_text.text, CTX)
    assert result.status == "scored"
    assert result.bits_per_byte == pytest.approx(bpb, rel=1e-5)
    assert result.ppl == pytest.approx(ppl, rel=1e-5)
    assert result.tokens_scored == result.chunks * (CTX - 1 - CTX // 2)
    assert 0 < result.bits_per_byte_se < result.bits_per_byte / 10


@pytest.mark.slow
def test_a_model_against_itself_diverges_by_nothing(engine, tiny_models, ascii_text):
    model = tiny_models["gguf_f32"]
    again = dataclasses.replace(model, id=model.id + "-again")  # the same file in a second worker
    results = score(engine, [again], ascii_text, reference=model)
    it = results[again.id]
    assert it.kl_mean == 0 and it.kl_p99 == 0
    assert it.top1_agreement == 1.0
    assert it.delta_p_mean == 0
    assert it.ppl_ratio == 1.0 and it.delta_ppl == 0
    assert results[model.id].note == "the reference"


@pytest.mark.slow
def test_gguf_files_against_their_own_hf_folder(engine, tiny_models, ascii_text):
    reference = tiny_models["hf"]
    results = score(
        engine, [tiny_models["gguf_f32"], tiny_models["gguf_q8"]], ascii_text, reference=reference
    )
    f32, q8 = results[tiny_models["gguf_f32"].id], results[tiny_models["gguf_q8"].id]
    assert f32.reference_id == q8.reference_id == reference.id
    assert 0 <= f32.kl_mean < 1e-4
    assert f32.top1_agreement > 0.99
    assert f32.ppl_ratio == pytest.approx(1, abs=1e-3)
    # Quantization loses a little: positive, larger than f32's, still small.
    assert f32.kl_mean < q8.kl_mean < 0.05
    assert q8.kl_mean_se > 0 and q8.kl_p99 >= q8.kl_mean
    # Same tokenizer, same text: the same tokens and bytes were scored by every backend.
    assert {r.tokens_scored for r in results.values()} == {f32.tokens_scored}
    assert {r.scored_bytes for r in results.values()} == {f32.scored_bytes}
    assert f32.bits_per_byte == pytest.approx(results[reference.id].bits_per_byte, rel=1e-4)


@pytest.mark.slow
def test_a_model_with_another_vocabulary_gets_bits_per_byte_only(
    engine, tiny_models, long_models, ascii_text
):
    other = long_models["gguf_f32"]
    result = score(engine, [other], ascii_text, reference=tiny_models["hf"])[other.id]
    assert result.status == "scored" and result.bits_per_byte > 0
    assert result.kl_mean is None and result.top1_agreement is None
    assert result.note == "other vocabulary than the reference: bits per byte only"


def test_a_text_too_short_for_two_chunks_fails_with_one_line(engine, tiny_models):
    result = score(engine, [tiny_models["gguf_f32"]], ScoringText("short.txt", "def f():\n    return 1\n"))[
        tiny_models["gguf_f32"].id
    ]
    assert result.status == "failed"
    assert "needs at least 128 (2 chunks): give a longer text or a smaller context" in result.error
    assert "\n" not in result.error


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"caf\xe9 au lait", "is not UTF-8 text (byte 0xe9 at offset 3)"),
        (b"  \n\t", "is empty"),
        (b"abc\x00def", "holds NUL bytes"),
    ],
)
def test_a_malformed_text_is_refused_in_one_line(data, message):
    with pytest.raises(ConfigurationError) as caught:
        text_from_bytes("upload.txt", data)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_context_longer_than_a_model_holds_is_refused(engine, tiny_models, ascii_text):
    with pytest.raises(ConfigurationError, match="holds 512 tokens, fewer than the context of 1024"):
        Scoring(engine, [tiny_models["hf"]], ascii_text, n_ctx=1024)


@pytest.mark.slow
def test_a_backend_without_full_logits_is_listed_not_scored(engine, tiny_models, ascii_text, monkeypatch):
    # No endpoint backend on this branch: a local backend is made to declare the capability missing.
    monkeypatch.setattr(
        GGUFInferencer, "full_logits_unavailable", "an OpenAI-style API gives no full-vocabulary logits"
    )
    results = score(engine, [tiny_models["gguf_f32"], tiny_models["hf"]], ascii_text)
    assert results[tiny_models["gguf_f32"].id].status == "not scored"
    assert (
        results[tiny_models["gguf_f32"].id].note
        == "not scored: an OpenAI-style API gives no full-vocabulary logits"
    )
    assert results[tiny_models["hf"].id].status == "scored"
    assert engine.loaded_models() and all(
        m["model_id"] == tiny_models["hf"].id for m in engine.loaded_models()
    )


def test_stop_ends_the_scoring_and_keeps_the_worker(engine, slow_prefill_models):
    model = slow_prefill_models["gguf_f32"]
    text = ScoringText(
        "long.py", "\n".join(f"value_{i} = compute({i}, name='item {i}')" for i in range(2000))
    )
    scoring = Scoring(engine, [model, slow_prefill_models["hf"]], text, n_ctx=512)
    kinds = []
    for event in scoring.events():
        kinds.append(event.kind)
        if event.kind == "scoring":
            scoring.stop()
    assert [r.status for r in scoring.results] == ["cancelled", "cancelled"]
    assert kinds.count("scoring") == 1  # stopped within the next chunk; the second model never started
    assert [m["model_id"] for m in engine.loaded_models()] == [model.id]  # stays warm


@pytest.mark.slow
def test_latest_scores_gives_each_models_newest_scored_result(engine, tiny_models, ascii_text):
    store = RunStore()
    first = Scoring(engine, [tiny_models["gguf_f32"]], ascii_text, n_ctx=CTX)
    list(first.events())
    save_scores(store, first.results)
    second = Scoring(
        engine,
        [tiny_models["gguf_f32"], tiny_models["gguf_q8"]],
        ascii_text,
        reference=tiny_models["gguf_f32"],
        n_ctx=32,
    )
    list(second.events())
    save_scores(store, second.results)
    latest = latest_scores(store)
    assert set(latest) == {tiny_models["gguf_f32"].id, tiny_models["gguf_q8"].id}
    assert latest[tiny_models["gguf_f32"].id].n_ctx == 32 and latest[tiny_models["gguf_q8"].id].kl_mean > 0
    assert np.isfinite(latest[tiny_models["gguf_q8"].id].bits_per_byte)


@pytest.mark.slow
def test_a_comparison_after_scoring_on_the_same_engine_runs(engine, tiny_models, ascii_text, greedy):
    """Scoring once replaced the engine's book of models in use by a plain set, and every later
    comparison on that engine (the dashboard's one) failed with a TypeError."""
    model = tiny_models["gguf_f32"]
    assert score(engine, [model], ascii_text)[model.id].status == "scored"
    done = [e.result for e in engine.run("def f(x):", [model], {model.id: greedy}) if e.kind == "done"]
    assert len(done) == 1 and done[0].error is None and done[0].stats.completion_tokens > 0
    assert not engine.busy
