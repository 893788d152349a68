"""Describe a Hugging Face model folder from its JSON files and safetensors headers, never its weights."""

from __future__ import annotations

import json
import logging
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llm_compare.core.config import ModelConfig
from llm_compare.core.formatting import human_bytes

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_INDEX = "pytorch_model.bin.index.json"
NO_WEIGHTS_ERROR = "no weights found: expected *.safetensors or *.bin beside config.json"

# Limits no real model reaches, so that a hostile file costs little time and memory (a 50 MB
# config.json of `{}` took 40 s and 2.9 GB to parse). Real config.json files are under 100 KB,
# tokenizer_config.json up to about 1.2 MB (Gemma 3); a shard index lists every tensor, about
# 10 MB for a 1T-parameter MoE; a safetensors header takes about 100 bytes per tensor.
MAX_JSON_BYTES = 4 << 20
MAX_INDEX_JSON_BYTES = 32 << 20
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20  # 150,000 tensors in one file (the library allows 100 MB)
MAX_JSON_CONTAINERS = 1_000_000  # objects and arrays: an added token of a tokenizer is one
MAX_JSON_DEPTH = 64  # real files nest under 10 levels; Python's parser fails near 1,000
MAX_SHARDS = 10_000  # the largest models have a few hundred
_MAX_DIMS = 16  # torch's tensors have at most 64; real weights have up to 5
_NOT_QUOTES_OR_BRACKETS = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.(?P<ext>safetensors|bin)$")
# .bin files a Trainer checkpoint keeps beside the weights
_NOT_WEIGHTS_BIN = re.compile(r"^(training_args|optimizer|scheduler|scaler|rng_state.*)\.bin$")
# Files beside the weights that are not part of this model: docs, images, other formats' weights.
_NOT_COUNTED_SUFFIXES = {
    ".gguf",
    ".md",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".svg",
    ".pdf",
    ".h5",
    ".msgpack",
    ".onnx",
    ".ot",
    ".pt",
    ".pth",
    ".ckpt",
    ".tflite",
    ".safetensors",
    ".bin",
}
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "max_seq_len",
    "n_ctx",
)
GENERATION_CONFIG_FILE = "generation_config.json"
# generation_config.json key -> ModelConfig field
_GENERATION_KEYS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repeat_penalty",
    "max_new_tokens": "max_tokens",
}
# generation_config.json keys that recommend nothing: token ids (the end tokens are used anyway)
# and bookkeeping.
_NOT_RECOMMENDATIONS = {
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
    "transformers_version",
    "_from_model_config",
    "do_sample",
}
# transformers' own defaults for keys we cannot map: a file that spells them out recommends nothing.
_NEUTRAL_GENERATION_VALUES = {
    "num_beams": 1,
    "num_beam_groups": 1,
    "num_return_sequences": 1,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "min_length": 0,
    "min_new_tokens": 0,
    "max_length": 20,
    "length_penalty": 1.0,
    "typical_p": 1.0,
    "encoder_repetition_penalty": 1.0,
    "diversity_penalty": 0.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "early_stopping": False,
    "use_cache": True,
    "output_scores": False,
    "output_attentions": False,
    "output_hidden_states": False,
    "output_logits": False,
    "return_dict_in_generate": False,
    "remove_invalid_values": False,
    "renormalize_logits": False,
}
_NO_EQUIVALENT = "no setting here means this (llama.cpp's sampler has no such step): applied on no backend"
_MAX_LENGTH_NOTE = "counts the prompt too: set max_tokens instead"
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0fnu",
    "F4": "float4_e2m1fn_x2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}


class HFFolderError(Exception):
    """One file of the folder cannot be used; the message is one line."""


@dataclass(frozen=True)
class CheckpointRecommendation:
    """What a checkpoint's generation_config.json recommends: the settings it maps to, and the
    keys no setting of ours means, with why (generation applies neither on its own)."""

    settings: dict[str, Any]
    unmapped: dict[str, str]


@dataclass
class HFFolderInfo:
    """What a model folder holds, read from config files and weight headers only."""

    files: list[str] = field(default_factory=list)  # names counted in size_bytes
    size_bytes: int = 0
    mtime: float | None = None
    weights_format: str | None = None  # "safetensors" | "pickle"
    architecture: str | None = None
    parameters: int | None = None
    dtype: str | None = None  # torch dtype name, e.g. "bfloat16"
    quantization: str | None = None  # from quantization_config, e.g. "gptq 4-bit"
    context_length: int | None = None
    vocab_size: int | None = None
    block_count: int | None = None
    kv_width: int | None = None  # kv heads x head size
    has_chat_template: bool = False
    generation_defaults: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def weight_files(names: set[str]) -> tuple[str | None, list[str]]:
    """The format and weight file names a loader would use from a folder's file names.

    Safetensors win over pickle, as in transformers; an index file names the shards.
    """
    safetensors = sorted(n for n in names if n.endswith(".safetensors"))
    if SAFETENSORS_INDEX in names or safetensors:
        return "safetensors", safetensors
    pickles = sorted(n for n in names if n.endswith(".bin") and not _NOT_WEIGHTS_BIN.match(n))
    if PICKLE_INDEX in names or pickles:
        return "pickle", pickles
    return None, []


def is_model_file(name: str) -> bool:
    """True for a file a model folder is made of: configs, tokenizer files, weights (not docs)."""
    return _is_counted(name) or name.endswith((".safetensors", ".bin"))


def _is_counted(name: str) -> bool:
    """A file counted in the folder's size; weights in other formats and docs are not."""
    return Path(name).suffix.lower() not in _NOT_COUNTED_SUFFIXES and not name.upper().startswith("LICENSE")


def is_model_config(path: Path) -> bool:
    """True when `path` holds a transformers config (not some other tool's config.json)."""
    try:
        config = _load_json(path)
    except HFFolderError:
        return False
    return isinstance(config, dict) and ("model_type" in config or "architectures" in config)


def read_hf_folder(folder: Path, names: set[str] | None = None) -> HFFolderInfo:
    """Describe `folder`; problems are reported in `error`, never raised."""
    if names is None:
        names = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    info = HFFolderInfo()
    weights_format, weights = weight_files(names)
    info.weights_format = weights_format
    index_name = {"safetensors": SAFETENSORS_INDEX, "pickle": PICKLE_INDEX}.get(weights_format or "")
    try:
        if index_name in names:
            weights = _indexed_shards(folder / index_name)
        counted = sorted(n for n in names if _is_counted(n))
        info.files = sorted(set(counted) | {n for n in weights if n in names})
        _add_sizes(folder, info)
        _read_config(folder, names, info)
        if not weights:
            raise HFFolderError(NO_WEIGHTS_ERROR)
        _check_shards(weights, names)
        if weights_format == "safetensors":
            _read_safetensors_headers(folder, weights, info)
        # pickle checkpoints are never unpickled: loading them runs code; the count stays unknown
    except HFFolderError as exc:
        info.error = str(exc)
    return info


def _add_sizes(folder: Path, info: HFFolderInfo) -> None:
    mtimes = []
    for name in info.files:
        try:
            st = (folder / name).stat()
        except OSError as exc:
            raise HFFolderError(f"cannot read {name}: {exc.strerror or exc}") from None
        info.size_bytes += st.st_size
        mtimes.append(st.st_mtime)
    info.mtime = max(mtimes, default=None)


def _read_config(folder: Path, names: set[str], info: HFFolderInfo) -> None:
    config = _load_json(folder / CONFIG_FILE)
    if not isinstance(config, dict):
        raise HFFolderError("config.json is not a JSON object")
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        info.architecture = architectures[0]
    elif isinstance(config.get("model_type"), str):
        info.architecture = config["model_type"]
    # Multimodal configs keep the language model's settings in a nested text_config.
    text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    info.context_length = _first_int(config, _CONTEXT_KEYS) or _first_int(text_config, _CONTEXT_KEYS)
    info.vocab_size = _first_int(config, ("vocab_size",)) or _first_int(text_config, ("vocab_size",))
    info.block_count, info.kv_width = _attention_shape(text_config or config)
    dtype = next((c[k] for c in (config, text_config) for k in ("dtype", "torch_dtype") if c.get(k)), None)
    info.dtype = dtype if isinstance(dtype, str) else None
    quantization = config.get("quantization_config")
    if isinstance(quantization, dict) and isinstance(quantization.get("quant_method"), str):
        bits = quantization.get("bits")
        info.quantization = quantization["quant_method"] + (f" {bits}-bit" if isinstance(bits, int) else "")
    info.has_chat_template = _has_chat_template(folder, names)
    if GENERATION_CONFIG_FILE in names:
        info.generation_defaults = _generation_defaults(folder)


def _attention_shape(config: dict) -> tuple[int | None, int | None]:
    layers = _first_int(config, ("num_hidden_layers", "n_layer", "num_layers"))
    heads = _first_int(config, ("num_attention_heads", "n_head"))
    kv_heads = _first_int(config, ("num_key_value_heads", "n_head_kv")) or heads
    hidden = _first_int(config, ("hidden_size", "n_embd", "d_model"))
    head_size = _first_int(config, ("head_dim",)) or (hidden // heads if hidden and heads else None)
    return layers, (kv_heads * head_size if kv_heads and head_size else None)


def _has_chat_template(folder: Path, names: set[str]) -> bool:
    if "chat_template.jinja" in names or "chat_template.json" in names:
        return True
    if "tokenizer_config.json" not in names:
        return False
    tokenizer_config = _load_json(folder / "tokenizer_config.json")  # a broken one fails the tokenizer too
    return isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))


def checkpoint_recommendation(folder: str | Path) -> CheckpointRecommendation:
    """The settings a model folder's generation_config.json recommends, and what it sets that
    cannot be mapped. Raises HFFolderError (one line) when the file is missing or unreadable."""
    path = Path(folder) / GENERATION_CONFIG_FILE
    if not path.is_file():
        raise HFFolderError(
            f"{Path(folder).name} has no {GENERATION_CONFIG_FILE}: the checkpoint recommends no settings"
        )
    generation = _load_json(path)
    if not isinstance(generation, dict):
        raise HFFolderError(f"{GENERATION_CONFIG_FILE} is not a JSON object")
    settings, unmapped = {}, {}
    for key, value in generation.items():
        if key in _NOT_RECOMMENDATIONS or value is None or _NEUTRAL_GENERATION_VALUES.get(key, ...) == value:
            continue
        field_name = _GENERATION_KEYS.get(key)
        if field_name is None:
            unmapped[key] = _MAX_LENGTH_NOTE if key == "max_length" else _NO_EQUIVALENT
            continue
        valid = valid_config_values({field_name: value})
        settings.update(valid)
        if not valid:
            unmapped[key] = f"{value!r} is outside what {field_name} accepts"
    if generation.get("do_sample") is False:
        settings["temperature"] = 0.0  # transformers decodes greedily whatever the temperature says
    return CheckpointRecommendation(settings, unmapped)


def _generation_defaults(folder: Path) -> dict[str, Any]:
    """ModelConfig values from generation_config.json. A broken file makes the model unusable,
    with its reason, like any other file of the folder that discovery reads."""
    return checkpoint_recommendation(folder).settings


def valid_config_values(values: dict[str, Any]) -> dict[str, Any]:
    """The numeric ModelConfig values among `values` that ModelConfig accepts, each checked on its own."""
    valid = {}
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                valid[name] = getattr(ModelConfig.model_validate({name: value}), name)
            except ValidationError:
                log.info("ignoring the model's own %s=%r: outside what ModelConfig accepts", name, value)
    return valid


def _indexed_shards(index_path: Path) -> list[str]:
    index = _load_json(index_path, MAX_INDEX_JSON_BYTES)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise HFFolderError(f"{index_path.name} has no valid weight_map")
    shards = sorted(set(weight_map.values()))
    if any("/" in s or "\\" in s or s.startswith(".") for s in shards):
        raise HFFolderError(f"{index_path.name} names shards outside the folder")
    return shards


def _check_shards(weights: list[str], names: set[str]) -> None:
    expected = set(weights)
    series = {(m["stem"], int(m["total"]), m["ext"]) for m in map(_SHARD_NAME.match, weights) if m}
    promised = len(expected) + sum(total for _, total, _ in series)
    if promised > MAX_SHARDS:
        raise HFFolderError(
            f"the weights name {promised:,} shard files; discovery reads at most {MAX_SHARDS:,}"
        )
    for stem, total, ext in series:
        expected |= {f"{stem}-{i:05d}-of-{total:05d}.{ext}" for i in range(1, total + 1)}
    missing = sorted(expected - names)
    if missing:
        raise HFFolderError(f"missing shard(s): {', '.join(missing)}")


def _read_safetensors_headers(folder: Path, weights: list[str], info: HFFolderInfo) -> None:
    parameters = 0
    bytes_by_dtype: dict[str, int] = {}
    for name in weights:
        for dtype, shape, n_bytes in _safetensors_tensors(folder / name):
            count = 1
            for dim in shape:
                count *= dim
            parameters += count
            bytes_by_dtype[dtype] = bytes_by_dtype.get(dtype, 0) + n_bytes
    dominant = max(sorted(bytes_by_dtype), key=bytes_by_dtype.__getitem__, default=None)
    if dominant:
        info.dtype = _SAFETENSORS_DTYPES.get(dominant, dominant.lower())
    # Quantized checkpoints store packed integers: their shapes do not count parameters.
    info.parameters = None if info.quantization else parameters


def _safetensors_tensors(path: Path) -> list[tuple[str, list[int], int]]:
    """(dtype, shape, bytes) of every tensor, read from the JSON header only."""
    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            head = f.read(8)
            if head.startswith(b"vers"):
                rest = f.read(16)
                if (head + rest).startswith(b"version https://git-lfs"):
                    raise HFFolderError(
                        f"{path.name} is a Git LFS pointer, not the weights (run `git lfs pull`)"
                    )
            if len(head) < 8:
                raise HFFolderError(f"{path.name}: not a safetensors file (only {size} bytes)")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size - 8:
                raise HFFolderError(
                    f"{path.name}: not a safetensors file or truncated"
                    f" (header of {header_len} bytes, file of {size})"
                )
            if header_len > MAX_SAFETENSORS_HEADER_BYTES:
                raise HFFolderError(
                    f"{path.name}: its header is {human_bytes(header_len)};"
                    f" discovery reads at most {human_bytes(MAX_SAFETENSORS_HEADER_BYTES)}"
                )
            f.seek(8)
            raw = f.read(header_len)
    except OSError as exc:
        raise HFFolderError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    _check_json_shape(raw, f"{path.name}: its header")
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HFFolderError(f"{path.name}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise HFFolderError(f"{path.name}: not a safetensors file (its header is not a JSON object)")
    data_size = size - 8 - header_len
    tensors = []
    for tensor_name, entry in header.items():
        if tensor_name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            valid = (
                isinstance(dtype, str)
                and isinstance(shape, list)
                and len(shape) <= _MAX_DIMS
                and all(isinstance(d, int) and 0 <= d < 1 << 64 for d in shape)
                and isinstance(start, int)
                and isinstance(end, int)
                and 0 <= start <= end
            )
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise HFFolderError(f"{path.name}: corrupt header entry for tensor {tensor_name!r}")
        if end > data_size:
            raise HFFolderError(
                f"{path.name}: truncated"
                f" (tensor {tensor_name!r} ends at byte {8 + header_len + end}, file has {size})"
            )
        tensors.append((dtype, shape, end - start))
    return tensors


def _load_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # read(n) allocates n bytes up front: ask for the size, and one byte to see it grew
            raw = f.read(min(size, max_bytes) + 1) if size <= max_bytes else b""
    except OSError as exc:
        raise HFFolderError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if max(size, len(raw)) > max_bytes:
        size = max(size, len(raw))
        raise HFFolderError(
            f"{path.name} is {human_bytes(size)}; discovery reads at most {human_bytes(max_bytes)}"
        )
    _check_json_shape(raw, path.name)
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise HFFolderError(f"{path.name} is not valid JSON: {exc}") from None


def _check_json_shape(raw: bytes, what: str) -> None:
    """Refuse JSON whose objects and arrays no real model file has so many of, or nested so deep,
    before parsing it: Python's parser would take gigabytes, or raise RecursionError."""
    import numpy as np  # on first use, as gguf_header does: importing discovery stays light

    # Escaped backslashes, then escaped quotes, go first: every quote left opens or closes a string.
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_QUOTES_OR_BRACKETS)
    codes = np.frombuffer(text, np.uint8)
    outside = (np.cumsum(codes == ord('"'), dtype=np.uint8) & 1) == 0  # wraps at 256, keeps the parity
    opens = outside & ((codes == ord("[")) | (codes == ord("{")))
    containers = int(np.count_nonzero(opens))
    if containers > MAX_JSON_CONTAINERS:
        raise HFFolderError(
            f"{what} holds {containers:,} JSON objects and arrays; discovery reads at most "
            f"{MAX_JSON_CONTAINERS:,}"
        )
    closes = outside & ((codes == ord("]")) | (codes == ord("}")))
    steps = opens[opens | closes].astype(np.int16) * 2 - 1  # +1 for each bracket that opens, -1 closes
    depth = int(np.cumsum(steps, dtype=np.int16).max(initial=0))  # a wrap past 32767 comes after 64
    if depth > MAX_JSON_DEPTH:
        raise HFFolderError(
            f"{what} nests JSON {depth:,} levels deep; discovery reads at most {MAX_JSON_DEPTH}"
        )


def _first_int(config: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
