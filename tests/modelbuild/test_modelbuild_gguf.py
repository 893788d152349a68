import gguf
import numpy as np
import pytest
import torch
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from llm_compare.modelbuild.corpus import load_stdlib_documents
from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf, permute_qk
from tests.support.llama_cpp_text import llama_detokenize

TOKENIZER_SAMPLES = [
    "def f(x):\n    return x  # comment\n",
    "héllo wörld, naïve café — 世界 🙂👍🏽",
    "a  b   c\n\n\n\t\t  end   ",
    "   leading spaces and trailing   ",
    "x=123456789+0.5e-3; y = 1_000_000",
    "'s 're 've I'm DON'T we'll",
    "\u00a0non-breaking\u2003em space\r\nwindows line",
    "<|system|>\nS<|endoftext|>\n<|user|>\nhi<|endoftext|>\n<|assistant|>\n",
    "text<|endoftext|>more",
]
# Spaces before punctuation and apostrophes: what llama.cpp's clean_spaces would remove.
SPACED_PUNCTUATION = "a , b . c ? d ! e it 's I 'm they 're we 've x ' y do n't ' ."
PROMPTS = ["def read_config(path):\n    ", "<|user|>\nWrite a haiku<|endoftext|>\n<|assistant|>\n"]


def _greedy_transformers(model, ids: list[int], n: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=n, min_new_tokens=0)
    return out[0, len(ids) :].tolist()


def _greedy_llama_cpp(llm, ids: list[int], n: int) -> list[int]:
    generated = []
    for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        generated.append(token)
        if len(generated) == n:
            break
    return generated


@pytest.mark.slow
def test_llama_cpp_tokenizes_exactly_like_transformers(built_tiny, hf_tokenizer, open_gguf):
    vocab = open_gguf(built_tiny.gguf_f32, vocab_only=True)
    whole_file = load_stdlib_documents(max_bytes=60_000)[-1].text
    for text in [*TOKENIZER_SAMPLES, whole_file]:
        expected = hf_tokenizer(text)["input_ids"]
        assert vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True) == expected, text[:40]


def test_llama_cpp_detokenizes_exactly_like_transformers(built_tiny, hf_tokenizer, open_gguf):
    vocab = open_gguf(built_tiny.gguf_f32, vocab_only=True)
    assert hf_tokenizer.decode(hf_tokenizer(SPACED_PUNCTUATION)["input_ids"]) == SPACED_PUNCTUATION
    for text in [SPACED_PUNCTUATION, *TOKENIZER_SAMPLES]:
        ids = hf_tokenizer(text)["input_ids"]
        assert llama_detokenize(vocab, ids) == hf_tokenizer.decode(ids, skip_special_tokens=True), text


@pytest.mark.slow
def test_f32_gguf_generates_the_same_greedy_tokens_as_transformers(
    built_tiny, hf_tokenizer, hf_model, open_gguf
):
    llm = open_gguf(built_tiny.gguf_f32)
    for prompt in PROMPTS:
        ids = hf_tokenizer(prompt)["input_ids"]
        expected = _greedy_transformers(hf_model, ids, 20)
        assert len(expected) == 20
        assert _greedy_llama_cpp(llm, ids, 20) == expected


def test_q8_0_gguf_loads_and_generates(built_tiny, hf_tokenizer, open_gguf):
    llm = open_gguf(built_tiny.gguf_q8)
    ids = hf_tokenizer(PROMPTS[0])["input_ids"]
    generated = _greedy_llama_cpp(llm, ids, 20)
    assert len(generated) == 20 and all(0 <= t < llm.n_vocab() for t in generated)
    assert built_tiny.gguf_q8.stat().st_size < built_tiny.gguf_f32.stat().st_size / 3


def test_gguf_metadata_tells_llama_cpp_to_split_and_prefix_like_transformers(built_tiny):
    reader = gguf.GGUFReader(built_tiny.gguf_f32)
    field = {name: f.contents() for name, f in reader.fields.items()}
    assert field["general.architecture"] == "llama"
    assert field["tokenizer.ggml.model"] == "gpt2"
    # GPT-2's split regex without clean_spaces; "gpt2" is rejected and "default" splits differently.
    assert field["tokenizer.ggml.pre"] == "trillion"
    assert field["tokenizer.ggml.add_bos_token"] is False
    assert field["tokenizer.ggml.eos_token_id"] == 0
    assert field["general.file_type"] == gguf.LlamaFileType.ALL_F32
    assert field["llama.context_length"] == 512
    assert field["general.sampling.top_k"] == 40
    assert "<|assistant|>" in field["tokenizer.chat_template"]


def test_q8_0_keeps_norms_in_f32_and_quantizes_matrices(built_tiny):
    reader = gguf.GGUFReader(built_tiny.gguf_q8)
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    assert types["output_norm.weight"] == types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert types["blk.1.ffn_down.weight"] == types["output.weight"] == gguf.GGMLQuantizationType.Q8_0


def test_chat_template_from_gguf_renders_like_transformers(built_tiny, hf_tokenizer):
    template = gguf.GGUFReader(built_tiny.gguf_f32).fields["tokenizer.chat_template"].contents()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = Jinja2ChatFormatter(template, eos_token="<|endoftext|>", bos_token="")(
        messages=messages
    ).prompt
    assert rendered == hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@pytest.mark.slow
def test_f16_and_split_exports_load(built_tiny, hf_tokenizer, hf_model, tmp_path, open_gguf):
    ids = hf_tokenizer(PROMPTS[0])["input_ids"]
    f16 = export_gguf(built_tiny.hf_dir, tmp_path / "tiny-f16.gguf", GGUFType.F16)
    assert len(_greedy_llama_cpp(open_gguf(f16[0]), ids, 5)) == 5
    shards = export_gguf(built_tiny.hf_dir, tmp_path / "tiny-split.gguf", GGUFType.F32, split_max_tensors=8)
    assert [p.name for p in shards] == [f"tiny-split-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert gguf.GGUFReader(shards[0]).fields["split.count"].contents() == 3
    assert _greedy_llama_cpp(open_gguf(shards[0]), ids, 10) == _greedy_transformers(hf_model, ids, 10)


def test_qk_permutation_interleaves_rotary_halves_within_each_head():
    # One head of dimension 4: rows (r0, r1 | r2, r3) pair as (r0, r2), (r1, r3) in llama.cpp.
    rows = np.arange(4, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    assert permute_qk(rows, n_head=1)[:, 0].tolist() == [0, 2, 1, 3]


@pytest.mark.parametrize("out_type", ["f32", "q8_0"])
def test_export_is_byte_for_byte_reproducible(built_tiny, tmp_path, out_type):
    path = export_gguf(built_tiny.hf_dir, tmp_path / f"again-{out_type}.gguf", out_type, name="tiny-llama")[0]
    original = built_tiny.gguf_f32 if out_type == "f32" else built_tiny.gguf_q8
    assert path.read_bytes() == original.read_bytes()
