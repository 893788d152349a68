"""The GGUF backend's token loop: compiled C where a compiler is (as wherever llama-cpp-python was
installed from source), the same loop in Python elsewhere; both draw the same tokens."""

from collections.abc import Iterator

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.inferencers.base import LocalInferencer, create_inferencer
from llm_compare.inferencers.generation import run_generation
from llm_compare.inferencers.token_loop import load_token_loop, python_token_loop

PROMPT = "def parse_args(argv):\n    "
CONFIGS = {
    "greedy": ModelConfig(temperature=0, max_tokens=60, mode="raw"),
    "sampled": ModelConfig(
        temperature=0.9, top_k=40, top_p=0.9, repeat_penalty=1.2, seed=7, max_tokens=60, mode="raw"
    ),
}


@pytest.fixture(scope="module")
def gguf(tiny_models) -> Iterator[LocalInferencer]:
    inferencer = create_inferencer(tiny_models["gguf_f32"], ModelConfig(n_ctx=512))
    inferencer.load()
    yield inferencer
    inferencer.unload()


def answer(inferencer: LocalInferencer, config: ModelConfig):
    return run_generation(
        inferencer,
        prompt=PROMPT,
        system_prompt=None,
        config=config,
        cancelled=lambda: False,
        emit=lambda text, n: None,
        load_s=0.0,
        warm=False,
    )


def counted_calls(inferencer: LocalInferencer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tokens each call of the token loop drew, from now on."""
    calls, token_loop = [], inferencer._token_loop

    def counted(*args) -> int:
        calls.append(token_loop(*args))
        return calls[-1]

    monkeypatch.setattr(inferencer, "_token_loop", counted)
    return calls


def test_gguf_runs_the_compiled_c_loop(gguf):
    # The test setup compiles llama-cpp-python, so a C compiler is there.
    assert gguf.runtime_info()["token_loop"] == "C"
    assert gguf._token_loop is not python_token_loop


@pytest.mark.parametrize("name", CONFIGS)
def test_the_c_and_python_loops_give_the_same_answer(gguf, monkeypatch, name):
    config = CONFIGS[name]
    in_c = answer(gguf, config)
    monkeypatch.setattr(gguf, "_token_loop", python_token_loop)
    in_python = answer(gguf, config)
    assert in_c.text == in_python.text and in_c.text.strip()
    assert in_c.stats.completion_tokens == in_python.stats.completion_tokens == 60
    assert answer(gguf, config.model_copy(update={"seed": 8})).text != in_c.text or name == "greedy"


def test_the_loop_draws_no_token_past_the_answer(gguf, monkeypatch):
    calls = counted_calls(gguf, monkeypatch)
    assert answer(gguf, ModelConfig(temperature=0, max_tokens=25, mode="raw")).stats.completion_tokens == 25
    assert calls[0] == 1, "the first token alone: its text is shown at once"
    assert sum(calls) == 25, "max_tokens is drawn, no more"


def test_with_a_stop_string_the_loop_returns_after_every_token(gguf, monkeypatch):
    full = answer(gguf, CONFIGS["greedy"]).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    calls = counted_calls(gguf, monkeypatch)
    result = answer(gguf, CONFIGS["greedy"].model_copy(update={"stop": [stop]}))
    assert result.text == full[: full.index(stop)] and result.finish_reason == "stop"
    assert set(calls) == {1} and len(calls) == result.stats.completion_tokens, (
        "no token decoded past the stop string"
    )


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def fake_compiler(tmp_path, stderr: str) -> str:
    script = tmp_path / "cc"
    script.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit 1\n")
    script.chmod(0o755)
    return str(script)


def test_without_a_compiler_the_loop_runs_in_python_and_says_why(empty_cache, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", "")
    assert load_token_loop.__wrapped__() == (
        python_token_loop,
        "Python (no C compiler: install cc, or set CC)",
    )


def test_a_failed_compilation_is_said_in_one_line(empty_cache, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "CC", fake_compiler(tmp_path, "token_loop.c:7:1: error: unknown type name llama_token")
    )
    loop, how = load_token_loop.__wrapped__()
    assert loop is python_token_loop
    assert (
        how
        == "Python (compiling token_loop.c failed: token_loop.c:7:1: error: unknown type name llama_token)"
    )


def test_the_compiled_loop_is_kept_and_not_compiled_again(empty_cache, tmp_path, monkeypatch):
    assert load_token_loop.__wrapped__()[1] == "C"
    monkeypatch.setenv("CC", fake_compiler(tmp_path, "error: the compiler was called again"))
    assert load_token_loop.__wrapped__()[1] == "C"


@pytest.mark.parametrize("in_c", [True, False], ids=["C", "Python"])
def test_the_loop_returns_at_an_end_of_generation_token_undecoded(gguf, in_c):
    """A sampler that always draws EOS: the loop returns it as the one token drawn, and the
    answer ends there (an end token mid-batch once went uncounted and was decoded)."""
    import ctypes

    import llama_cpp as L

    token_loop = gguf._token_loop if in_c else python_token_loop
    eos = L.llama_vocab_eos(gguf._vocab)
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    bias = (L.llama_logit_bias * 1)(L.llama_logit_bias(eos, 1000.0))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_logit_bias(gguf._n_vocab, 1, bias))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
    try:
        gguf._clear_kv_cache()
        assert gguf._decode_prompt(gguf.encode_prompt(PROMPT, "", chat=False))
        status = ctypes.c_int(-1)
        assert (
            token_loop(
                gguf._ctx, chain, gguf._vocab, -1, 20, float("inf"), gguf._drawn, gguf._drawn_at, status
            )
            == 1
        )
        assert (gguf._drawn[0], status.value) == (eos, 0)
    finally:
        L.llama_sampler_free(chain)
