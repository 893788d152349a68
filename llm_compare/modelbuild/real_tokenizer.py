"""A tiny random LLaMA that uses a real model family's tokenizer, taken from one of llama.cpp's
vocabulary files, as a Hugging Face folder and as an f32 GGUF carrying the original tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import AutoTokenizer

from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf
from llm_compare.modelbuild.llama import LlamaShape, random_llama, save_hf_model
from llm_compare.modelbuild.vocab_files import tokenizer_test_vectors, vocab_file

# Tiny on purpose: with Qwen2's 151,936 tokens the embedding and output matrices are most of it.
_HIDDEN, _LAYERS, _HEADS, _INTERMEDIATE = 32, 1, 2, 64
_SEED = 1234


@dataclass(frozen=True)
class RealTokenizerLlama:
    """One random LLaMA with a real tokenizer, in both formats."""

    vocab: str  # the llama.cpp vocabulary file it was built from
    name: str
    hf_dir: Path
    gguf_f32: Path


def build_real_tokenizer_llama(vocab: str, out_dir: Path, seed: int = _SEED) -> RealTokenizerLlama:
    """Build `<vocab>-llama` (HF folder) and `<vocab>-llama-f32.gguf` under `out_dir`.

    `vocab` names a llama.cpp vocabulary file (`llama-spm`, `qwen2`, ...). The generation config
    names only the tokenizer's EOS as `eos_token_id`, as many chat models' configs do: an
    end-of-turn token such as `<|im_end|>` is then not in it.
    """
    out_dir = Path(out_dir)
    source = vocab_file(vocab)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    _prefix_every_text_like_sentencepiece(tokenizer)
    # One row per token of the file (the export checks it): transformers keeps its padding tokens too.
    shape = LlamaShape(
        _HIDDEN, _LAYERS, _HEADS, _INTERMEDIATE, vocab_size=len(tokenizer), max_position_embeddings=512
    )
    model = random_llama(shape, tokenizer, seed=seed)
    model.config.bos_token_id = tokenizer.bos_token_id
    name = f"{vocab}-llama"
    hf_dir = save_hf_model(model, tokenizer, out_dir / name)
    check_against_llama_cpp(AutoTokenizer.from_pretrained(hf_dir), vocab)
    gguf_f32 = out_dir / f"{name}-f32.gguf"
    export_gguf(hf_dir, gguf_f32, GGUFType.F32, vocab_file=source)
    return RealTokenizerLlama(vocab=vocab, name=name, hf_dir=hf_dir, gguf_f32=gguf_f32)


def check_against_llama_cpp(tokenizer, vocab: str) -> None:
    """Refuse a converted tokenizer that does not give llama.cpp's expected ids for its test strings."""
    for text, expected in tokenizer_test_vectors(vocab):
        got = tokenizer(text, add_special_tokens=False)["input_ids"]
        if got != expected:
            raise ValueError(
                f"the converted {vocab} tokenizer gives {got} for {text!r}; llama.cpp expects {expected}"
            )


def _prefix_every_text_like_sentencepiece(tokenizer) -> None:
    # transformers converts a SentencePiece vocabulary with a Metaspace pre-tokenizer that adds the
    # "▁" dummy prefix only when the text does not start with a space; SentencePiece, and llama.cpp,
    # add it to every text (" Hello" is "▁" "▁Hello"). Llama 2's own tokenizer.json does it so.
    from tokenizers import normalizers, pre_tokenizers

    backend = tokenizer.backend_tokenizer
    if isinstance(backend.pre_tokenizer, pre_tokenizers.Metaspace) and backend.normalizer is None:
        backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        backend.pre_tokenizer = None


def with_swapped_output_rows(
    model: RealTokenizerLlama, swaps: list[tuple[int, int]], out_dir: Path, name: str
) -> RealTokenizerLlama:
    """A copy of `model` whose output layer has the rows of each (a, b) swapped: wherever the
    original would pick token a it picks b, and the other way round. A random model then says a
    chosen token (an end-of-turn token, say) at a known step, in both formats alike."""
    import shutil

    from safetensors.torch import load_file, save_file

    hf_dir = Path(out_dir) / name
    shutil.copytree(model.hf_dir, hf_dir)
    weights_file = hf_dir / "model.safetensors"
    weights = load_file(weights_file)
    head = weights["lm_head.weight"]
    for a, b in swaps:
        head[[a, b]] = head[[b, a]]
    save_file(weights, weights_file, metadata={"format": "pt"})
    gguf_f32 = Path(out_dir) / f"{name}-f32.gguf"
    export_gguf(hf_dir, gguf_f32, GGUFType.F32, vocab_file=vocab_file(model.vocab))
    return RealTokenizerLlama(vocab=model.vocab, name=name, hf_dir=hf_dir, gguf_f32=gguf_f32)
