"""Write a Hugging Face LLaMA folder as a GGUF file llama.cpp loads: its byte-level BPE tokenizer
converted, or a real model family's tokenizer copied from a llama.cpp vocabulary file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch
from safetensors.torch import load_file

# llama.cpp's name for a pre-tokenizer with GPT-2's split regex, the one `tokenizers`'
# ByteLevel(use_regex=True) applies ("default" selects LLaMA-3-like regexes that split code and
# digits differently: see tests/modelbuild). Not "gpt-2": same regex, but it also switches on
# llama_detokenize's clean_spaces (" ," -> ",", " 's" -> "'s"), which no GGUF key can switch off,
# while transformers 5 never tidies a BPE tokenizer's text (it ignores clean_up_tokenization_spaces).
GPT2_PRE_TOKENIZER = "trillion"
# Q8_0 stores rows in blocks of this many values; rows of other lengths stay F16, as in llama.cpp's converter.
_Q8_0_BLOCK = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0]


class GGUFType(str, Enum):
    """The weight types this exporter writes."""

    F32 = "f32"
    F16 = "f16"
    Q8_0 = "q8_0"


_FILE_TYPES = {
    GGUFType.F32: gguf.LlamaFileType.ALL_F32,
    GGUFType.F16: gguf.LlamaFileType.MOSTLY_F16,
    GGUFType.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0,
}

# Hugging Face LLaMA tensor names (per layer, without "model.layers.N.") to GGUF names.
_LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


@dataclass(frozen=True)
class _HFLlama:
    """What the exporter reads from a Hugging Face folder."""

    config: dict[str, Any]
    tokenizer: dict[str, Any]
    tokenizer_config: dict[str, Any]
    chat_template: str | None
    generation: dict[str, Any]
    tensors: dict[str, torch.Tensor]


def permute_qk(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from Hugging Face's rotate-half layout to llama.cpp's interleaved-pair RoPE layout."""
    rows, cols = weights.shape
    return weights.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def export_gguf(
    hf_dir: Path,
    out_path: Path,
    out_type: GGUFType | str = GGUFType.F32,
    name: str | None = None,
    split_max_tensors: int = 0,
    vocab_file: Path | None = None,
) -> list[Path]:
    """Write `hf_dir` as GGUF at `out_path`; returns the file(s) written.

    `split_max_tensors` > 0 writes split files (`stem-00001-of-0000N.gguf`, with `split.*` keys),
    as llama.cpp's gguf-split does. `vocab_file`, a GGUF file, gives the tokenizer: its
    `tokenizer.*` keys are copied as they are (the folder's tokenizer files are then not read).
    """
    hf_dir, out_path = Path(hf_dir), Path(out_path)
    out_type = GGUFType(out_type)
    model = _read_hf_llama(hf_dir, needs_bpe_tokenizer=vocab_file is None)
    cfg = model.config
    if cfg.get("model_type") != "llama":
        raise ValueError(f"{hf_dir}: model_type {cfg.get('model_type')!r} is not 'llama'")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(out_path, arch="llama", split_max_tensors=split_max_tensors)
    writer.add_name(name or hf_dir.name)
    writer.add_file_type(_FILE_TYPES[out_type])
    if out_type is GGUFType.Q8_0:
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_hyperparameters(writer, cfg)
    _add_sampling_defaults(writer, model.generation)
    if vocab_file is None:
        _add_tokenizer(writer, model, vocab_size=cfg["vocab_size"])
    else:
        _copy_tokenizer(writer, Path(vocab_file), vocab_size=cfg["vocab_size"])
    for gguf_name, data in _gguf_tensors(model):
        _add_tensor(writer, gguf_name, data, out_type)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return writer.format_shard_names(out_path)


def _read_hf_llama(hf_dir: Path, needs_bpe_tokenizer: bool = True) -> _HFLlama:
    def read_json(name: str) -> dict[str, Any]:
        path = hf_dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    tokenizer_config = read_json("tokenizer_config.json")
    # transformers 5 saves the chat template in its own file; older versions inside tokenizer_config.json.
    template_file = hf_dir / "chat_template.jinja"
    chat_template = (
        template_file.read_text(encoding="utf-8")
        if template_file.exists()
        else tokenizer_config.get("chat_template")
    )
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(hf_dir.glob("*.safetensors")):
        tensors.update(load_file(shard))
    if not tensors:
        raise FileNotFoundError(f"{hf_dir}: no .safetensors weights")
    tokenizer = read_json("tokenizer.json")
    if needs_bpe_tokenizer and tokenizer.get("model", {}).get("type") != "BPE":
        raise ValueError(f"{hf_dir}: tokenizer.json is not a BPE tokenizer")
    return _HFLlama(
        read_json("config.json"),
        tokenizer,
        tokenizer_config,
        chat_template,
        read_json("generation_config.json"),
        tensors,
    )


def _rope_theta(cfg: dict[str, Any]) -> float:
    # transformers 5 nests it in rope_parameters; older configs have it at the top level.
    rope_parameters = cfg.get("rope_parameters") or {}
    theta = rope_parameters.get("rope_theta", cfg.get("rope_theta", 10000.0))
    rope_type = rope_parameters.get("rope_type", (cfg.get("rope_scaling") or {}).get("rope_type", "default"))
    if rope_type not in ("default", None):
        raise ValueError(f"rope_type {rope_type!r} is not supported by this exporter")
    return float(theta)


def _head_dim(cfg: dict[str, Any]) -> int:
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def _add_hyperparameters(writer: gguf.GGUFWriter, cfg: dict[str, Any]) -> None:
    n_head = cfg["num_attention_heads"]
    head_dim = _head_dim(cfg)
    writer.add_vocab_size(cfg["vocab_size"])
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(cfg.get("num_key_value_heads") or n_head)
    writer.add_rope_freq_base(_rope_theta(cfg))
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_rope_dimension_count(head_dim)
    if head_dim != cfg["hidden_size"] // n_head:
        # llama.cpp assumes hidden/heads unless told otherwise.
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)


def _add_sampling_defaults(writer: gguf.GGUFWriter, generation: dict[str, Any]) -> None:
    # general.sampling.* carries the model's recommended sampling settings, as generation_config.json does.
    if generation.get("temperature") is not None:
        writer.add_sampling_temp(float(generation["temperature"]))
    if generation.get("top_p") is not None:
        writer.add_sampling_top_p(float(generation["top_p"]))
    if generation.get("top_k") is not None:
        writer.add_sampling_top_k(int(generation["top_k"]))


def _add_tokenizer(writer: gguf.GGUFWriter, model: _HFLlama, vocab_size: int) -> None:
    bpe = model.tokenizer["model"]
    tokens: dict[int, str] = {token_id: token for token, token_id in bpe["vocab"].items()}
    types: dict[int, int] = {token_id: gguf.TokenType.NORMAL for token_id in tokens}
    for added in model.tokenizer.get("added_tokens", []):
        tokens[added["id"]] = added["content"]
        # CONTROL: llama.cpp parses it as one token with special=True and never splits it as text.
        types[added["id"]] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    if max(tokens) >= vocab_size:
        raise ValueError(f"tokenizer has token id {max(tokens)}, beyond the model's vocab_size {vocab_size}")
    # A model's embedding may be larger than its tokenizer; llama.cpp needs one entry per row.
    token_list = [tokens.get(i, f"[PAD{i}]") for i in range(vocab_size)]
    type_list = [types.get(i, gguf.TokenType.UNUSED) for i in range(vocab_size)]
    # tokenizers >= 0.20 saves merges as [left, right] pairs; GGUF wants "left right" strings.
    merges = [m if isinstance(m, str) else " ".join(m) for m in bpe.get("merges", [])]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(GPT2_PRE_TOKENIZER)
    writer.add_token_list(token_list)
    writer.add_token_types(type_list)
    writer.add_token_merges(merges)

    ids = {token: token_id for token_id, token in tokens.items()}

    def special_id(key: str) -> int | None:
        value = model.tokenizer_config.get(key)
        content = value.get("content") if isinstance(value, dict) else value
        return ids.get(content) if content else None

    eos_id = special_id("eos_token")
    if eos_id is None:
        eos_id = model.config.get("eos_token_id")
    bos_id = special_id("bos_token")
    if bos_id is None:
        bos_id = model.config.get("bos_token_id", eos_id)
    pad_id = special_id("pad_token")
    if bos_id is not None:
        writer.add_bos_token_id(bos_id)
    if eos_id is not None:
        writer.add_eos_token_id(eos_id)
    if pad_id is not None:
        writer.add_pad_token_id(pad_id)
    # Same ids as transformers for the same text: neither side prepends or appends anything.
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    if model.chat_template:
        writer.add_chat_template(model.chat_template)


def _copy_tokenizer(writer: gguf.GGUFWriter, vocab_file: Path, vocab_size: int) -> None:
    fields = {
        name: field
        for name, field in gguf.GGUFReader(vocab_file).fields.items()
        if name.startswith("tokenizer.")
    }
    n_tokens = len(fields["tokenizer.ggml.tokens"].data)
    if n_tokens != vocab_size:
        raise ValueError(
            f"{vocab_file.name} has {n_tokens} tokens but the model's vocab_size is {vocab_size}"
        )
    for name, field in fields.items():
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub_type)


def _gguf_tensors(model: _HFLlama) -> list[tuple[str, np.ndarray]]:
    cfg = model.config
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg.get("num_key_value_heads") or n_head
    out: list[tuple[str, np.ndarray]] = []
    for hf_name, tensor in model.tensors.items():
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp from rope.freq_base
        data = tensor.to(torch.float32).numpy()
        if hf_name in _GLOBAL_TENSORS:
            out.append((_GLOBAL_TENSORS[hf_name], data))
            continue
        parts = hf_name.split(".")
        if parts[:2] != ["model", "layers"] or ".".join(parts[3:]) not in _LAYER_TENSORS:
            raise ValueError(f"unexpected tensor {hf_name!r} in a LLaMA checkpoint")
        suffix = ".".join(parts[3:])
        if suffix == "self_attn.q_proj.weight":
            data = permute_qk(data, n_head)
        elif suffix == "self_attn.k_proj.weight":
            data = permute_qk(data, n_head_kv)
        out.append((f"blk.{int(parts[2])}.{_LAYER_TENSORS[suffix]}", data))
    # Without lm_head (tied embeddings), llama.cpp reuses token_embd as the output matrix.
    return sorted(out, key=lambda item: _tensor_order(item[0]))


def _tensor_order(gguf_name: str) -> tuple[int, int, str]:
    # Same order as llama.cpp's converter: embeddings, blocks in order, then the head.
    if gguf_name.startswith("token_embd"):
        return (0, 0, gguf_name)
    if gguf_name.startswith("blk."):
        return (1, int(gguf_name.split(".")[1]), gguf_name)
    return (2, 0, gguf_name)


def _add_tensor(writer: gguf.GGUFWriter, name: str, data: np.ndarray, out_type: GGUFType) -> None:
    data = np.ascontiguousarray(data, dtype=np.float32)
    # Norm weights (1-D) stay F32 in every type, as llama.cpp's converter and quantizer keep them.
    if data.ndim == 1 or out_type is GGUFType.F32:
        writer.add_tensor(name, data)
    elif out_type is GGUFType.Q8_0 and data.shape[-1] % _Q8_0_BLOCK == 0:
        quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(name, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        writer.add_tensor(name, data.astype(np.float16))
