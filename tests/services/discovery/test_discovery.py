"""Model discovery: tiny real GGUF files and Hugging Face folders, described from their headers only."""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFWriter, LlamaFileType
from gguf.quants import quantize
from safetensors.numpy import save_file

from llm_compare.core.errors import ConfigurationError, ModelNotFoundError
from llm_compare.core.models import LOCAL_METADATA_KEYS, ModelType, model_id_for
from llm_compare.services.discovery import gguf_header, model_manager
from llm_compare.services.discovery.gguf_header import GGUFHeaderError, read_gguf_header
from llm_compare.services.discovery.hf_folder import HFFolderError, checkpoint_recommendation
from llm_compare.services.discovery.model_manager import ModelManager

CHAT_TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
VOCAB = 64
DIM = 32


# Builders


def default_tensors() -> dict[str, np.ndarray]:
    return {
        "token_embd.weight": np.zeros((VOCAB, DIM), dtype=np.float32),
        "blk.0.attn_q.weight": np.ones((DIM, DIM), dtype=np.float16),
        "output_norm.weight": np.ones(DIM, dtype=np.float32),
    }


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    general_name: str | None = None,
    context_length: int = 2048,
    chat_template: str | None = CHAT_TEMPLATE,
    sampling: dict | None = None,
    file_type: int | None = None,
    tensors: dict | None = None,
    split_max_tensors: int = 0,
    general_type: str | None = None,
) -> Path:
    """A small real GGUF file; tensors given as (array, GGMLQuantizationType) are written pre-quantized."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    if general_name:
        writer.add_name(general_name)
    if general_type:
        writer.add_type(general_type)
    writer.add_context_length(context_length)
    writer.add_block_count(1)
    writer.add_embedding_length(DIM)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"tok{i}" for i in range(VOCAB)])
    writer.add_token_scores([0.0] * VOCAB)
    if chat_template:
        writer.add_chat_template(chat_template)
    for key, value in (sampling or {}).items():
        getattr(writer, f"add_sampling_{key}")(value)
    for name, tensor in (default_tensors() if tensors is None else tensors).items():
        if isinstance(tensor, tuple):
            data, qtype = tensor
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_hf_folder(
    folder: Path,
    *,
    config: dict | None = None,
    tensors: dict[str, np.ndarray] | None = None,
    generation_config: dict | None = None,
    tokenizer_config: dict | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = config or {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "max_position_embeddings": 4096,
        "torch_dtype": "float16",
        "vocab_size": VOCAB,
        "hidden_size": DIM,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    (folder / "config.json").write_text(json.dumps(config))
    if tensors is None:
        tensors = {
            "model.embed_tokens.weight": np.zeros((VOCAB, DIM), np.float16),
            "model.norm.weight": np.ones(DIM, np.float16),
        }
    if tensors:
        save_file(tensors, str(folder / "model.safetensors"))
    if generation_config is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation_config))
    if tokenizer_config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return folder


def write_sharded_hf_folder(folder: Path, *, drop_second_shard: bool = False) -> Path:
    write_hf_folder(folder, tensors={})
    shards = {
        "model-00001-of-00002.safetensors": {"a.weight": np.zeros((10, 20), np.float32)},
        "model-00002-of-00002.safetensors": {
            "b.weight": np.zeros((30,), np.float32),
            "c.weight": np.zeros((2, 3, 4), np.float32),
        },
    }
    weight_map = {}
    for shard, tensors in shards.items():
        if not (drop_second_shard and shard.startswith("model-00002")):
            save_file(tensors, str(folder / shard))
        weight_map.update(dict.fromkeys(tensors, shard))
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def scan_one(path: Path):
    models = ModelManager(path).scan()
    assert len(models) == 1, [m.name for m in models]
    return models[0]


def key_position(path: Path, key: str) -> str:
    """ "<n> of <count>": where `key` is among the file's metadata keys, as gguf-py reads them."""
    keys = [f for f in GGUFReader(path).fields if not f.startswith("GGUF.")]
    return f"{keys.index(key) + 1} of {len(keys)}"


def count_reads(monkeypatch) -> list[int]:
    """The sizes of every read discovery makes from GGUF files, from now on."""
    read_bytes: list[int] = []
    real_open = open

    class CountingFile:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            data = self._f.read(n)
            read_bytes.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(gguf_header, "open", lambda *a, **k: CountingFile(real_open(*a, **k)), raising=False)
    return read_bytes


# GGUF


def test_gguf_metadata_comes_from_the_header(tmp_path):
    path = write_gguf(
        tmp_path / "tiny-llama.gguf",
        general_name="Tiny Llama",
        context_length=4096,
        file_type=7,
        sampling={"temp": 0.6, "top_k": 20, "top_p": 0.9},
    )
    model = scan_one(tmp_path)
    assert model.type == ModelType.GGUF
    assert model.name == "tiny-llama"
    assert model.path == str(path.resolve())
    assert model.id == model_id_for(path, "tiny-llama")
    assert model.size_bytes == path.stat().st_size
    assert model.error is None
    assert model.metadata.to_dict() == {
        "architecture": "llama",
        "parameters": VOCAB * DIM + DIM * DIM + DIM,
        "quantization": "F32",  # 8 KiB of F32 embeddings outweigh 2 KiB of F16
        "context_length": 4096,
        "has_chat_template": True,
        "generation_defaults": {"temperature": 0.6, "top_k": 20, "top_p": 0.9},
        "format": "gguf",
        "files": ["tiny-llama.gguf"],
        "mtime": path.stat().st_mtime,
        "declared_name": "Tiny Llama",
        "file_type": "Q8_0",
        "vocab_size": VOCAB,
        "block_count": 1,
        "kv_width": 2 * DIM // 4,  # 2 kv heads of 8
        "app": None,  # in a model directory, not another app's folder
        "aliases": None,
    }


def test_gguf_quantization_is_the_dominant_type_of_matrices(tmp_path):
    rng = np.random.default_rng(0)
    write_gguf(
        tmp_path / "q8.gguf",
        chat_template=None,
        tensors={
            "blk.0.ffn_up.weight": (rng.random((64, 128), dtype=np.float32), GGMLQuantizationType.Q8_0),
            "blk.0.attn_q.weight": np.ones((16, 32), np.float16),
            "output_norm.weight": np.ones(4096, np.float32),  # bigger, but 1-D tensors do not count
        },
    )
    model = scan_one(tmp_path)
    assert model.metadata.quantization == "Q8_0"
    assert model.metadata.parameters == 64 * 128 + 16 * 32 + 4096
    assert model.metadata.has_chat_template is False
    assert model.metadata.generation_defaults == {}


def test_gguf_quantization_falls_back_to_file_type_without_matrices(tmp_path):
    write_gguf(tmp_path / "m.gguf", file_type=15, tensors={"norm.weight": np.ones(8, np.float32)})
    assert scan_one(tmp_path).metadata.quantization == "Q4_K_M"


def test_every_tensor_type_gguf_knows_is_named_and_sized_as_gguf_reads_it(tmp_path):
    """One tensor of each type in the gguf package, written by its writer: our header reader
    names each as gguf does and sizes it as gguf's own reader does, so the file is whole."""
    path = tmp_path / "every-type.gguf"
    writer = GGUFWriter(path, "llama")
    for qtype in GGMLQuantizationType:
        block, type_size = GGML_QUANT_SIZES[qtype]
        writer.add_tensor(f"t.{qtype.name}", np.zeros((2, 3 * type_size), np.uint8), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    ours = {t.name: t for t in read_gguf_header(path).tensors}
    for theirs in GGUFReader(path).tensors:
        assert ours[theirs.name].type_name == theirs.tensor_type.name
        assert ours[theirs.name].n_bytes == theirs.n_bytes, theirs.name
    assert scan_one(tmp_path).error is None


def test_a_tensor_type_gguf_does_not_list_is_unknown_not_guessed():
    removed = 31  # Q4_0_4_4: removed upstream; llama.cpp refuses such files
    assert removed not in set(GGMLQuantizationType)
    info = gguf_header.GGUFTensorInfo("w", (32, 4), removed, 0)
    assert (info.type_name, info.n_bytes) == ("TYPE_31", None)


def test_file_types_are_named_as_gguf_names_them():
    for file_type in LlamaFileType:
        expected = file_type.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        assert gguf_header.file_type_name(file_type) == expected


def test_gguf_sampling_values_outside_config_limits_are_dropped(tmp_path):
    write_gguf(tmp_path / "m.gguf", sampling={"temp": 3.5, "top_k": 40, "top_p": 0.0})
    assert scan_one(tmp_path).metadata.generation_defaults == {"top_k": 40}


def test_file_with_gguf_magic_but_no_suffix_is_found(tmp_path):
    (tmp_path / "blobs").mkdir()
    write_gguf(tmp_path / "tmp.gguf").rename(tmp_path / "blobs" / "sha256-0a1b2c")
    (tmp_path / "blobs" / "notes").write_bytes(b"plain text, not a model")
    model = scan_one(tmp_path)
    assert (model.name, model.error, model.metadata.architecture) == ("sha256-0a1b2c", None, "llama")


def test_random_bytes_named_gguf_are_listed_with_an_error(tmp_path):
    (tmp_path / "noise.gguf").write_bytes(bytes(range(256)) * 4)
    model = scan_one(tmp_path)
    assert model.name == "noise"
    assert model.error == "not a GGUF file (magic bytes are b'\\x00\\x01\\x02\\x03', expected b'GGUF')"
    assert model.size_bytes == 1024
    assert model.metadata.format == "gguf"
    assert model.metadata.parameters is None
    assert not model.usable


def test_git_lfs_pointer_named_gguf_says_so(tmp_path):
    (tmp_path / "m.gguf").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
    assert scan_one(tmp_path).error == (
        "not a GGUF file: it is a Git LFS pointer (run `git lfs pull` to fetch the real file)"
    )


def test_gguf_cut_inside_the_key_values_names_the_key(tmp_path):
    path = write_gguf(tmp_path / "full.gguf")
    data = path.read_bytes()
    cut = data.find(b"tokenizer.ggml.tokens") + 60  # inside the token list
    (tmp_path / "cut.gguf").write_bytes(data[:cut])
    key = key_position(path, "tokenizer.ggml.tokens")
    expected = f"truncated header: file ends at byte {cut} while reading key {key} ('tokenizer.ggml.tokens')"
    with pytest.raises(GGUFHeaderError) as excinfo:
        read_gguf_header(tmp_path / "cut.gguf")
    assert str(excinfo.value) == expected
    path.unlink()
    assert scan_one(tmp_path).error == expected


def test_gguf_cut_inside_the_tensor_infos_names_the_tensor(tmp_path):
    path = write_gguf(tmp_path / "full.gguf")
    data = path.read_bytes()
    cut = data.find(b"output_norm.weight") + len("output_norm.weight") + 2  # inside its n_dims
    (tmp_path / "full.gguf").write_bytes(data[:cut])
    assert scan_one(tmp_path).error == (
        f"truncated header: file ends at byte {cut} while reading tensor info 3 of 3 ('output_norm.weight')"
    )


def test_gguf_cut_inside_the_tensor_data_is_an_error(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    full_size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-100])
    assert scan_one(tmp_path).error == (
        f"truncated tensor data: the tensors need {full_size} bytes but the file has {full_size - 100}"
    )


def test_corrupt_counts_fail_fast_without_allocating(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    data = bytearray(path.read_bytes())
    data[16:24] = (2**63).to_bytes(8, "little")  # kv_count
    path.write_bytes(bytes(data))
    with pytest.raises(GGUFHeaderError) as excinfo:
        read_gguf_header(path)
    assert str(excinfo.value) == "corrupt header: 9223372036854775808 metadata keys (limit 65536)"


def test_corrupt_string_length_reads_as_truncation(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    first_key = key_position(path, "general.architecture")
    data = bytearray(path.read_bytes())
    data[24:32] = (2**40).to_bytes(8, "little")  # length of the first key
    path.write_bytes(bytes(data))
    with pytest.raises(GGUFHeaderError) as excinfo:
        read_gguf_header(path)
    assert first_key == "1 of 10"
    expected = f"truncated header: file ends at byte {len(data)} while reading key {first_key}"
    assert str(excinfo.value) == expected


def test_scan_reads_headers_not_tensor_data(tmp_path, monkeypatch):
    big = {"token_embd.weight": np.zeros((4096, 256), np.float32)}  # 4 MiB of tensor data
    path = write_gguf(tmp_path / "big.gguf", tensors=big)
    read_bytes = count_reads(monkeypatch)
    assert scan_one(tmp_path).metadata.parameters == 4096 * 256
    assert path.stat().st_size > 4 << 20
    assert 0 < sum(read_bytes) <= 512 << 10  # the header was read, through the counted file


def test_lora_adapter_and_projector_are_listed_as_unusable(tmp_path):
    write_gguf(tmp_path / "adapter.gguf", general_type="adapter")
    write_gguf(tmp_path / "mmproj.gguf", arch="clip")
    errors = {m.name: m.error for m in ModelManager(tmp_path).scan()}
    assert errors == {
        "adapter": "a LoRA adapter, not a model: load it together with its base model",
        "mmproj": "a multimodal projector (mmproj), not a language model",
    }


# Split GGUF


def test_split_gguf_is_one_model(tmp_path):
    write_gguf(tmp_path / "big.gguf", split_max_tensors=1, general_name="Big", file_type=1)
    shards = sorted(tmp_path.glob("big-*.gguf"))
    assert [p.name for p in shards] == [f"big-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    model = scan_one(tmp_path)
    assert model.name == "big"
    assert model.path == str(shards[0].resolve())
    assert model.size_bytes == sum(p.stat().st_size for p in shards)
    assert model.error is None
    assert model.metadata.files == [p.name for p in shards]
    assert model.metadata.parameters == VOCAB * DIM + DIM * DIM + DIM
    assert model.metadata.context_length == 2048
    assert model.metadata.has_chat_template is True
    assert model.metadata.declared_name == "Big"


def test_split_gguf_with_a_missing_shard_is_listed_with_an_error(tmp_path):
    write_gguf(tmp_path / "big.gguf", split_max_tensors=1)
    (tmp_path / "big-00002-of-00003.gguf").unlink()
    model = scan_one(tmp_path)
    assert model.name == "big"
    assert model.error == "missing shard(s): big-00002-of-00003.gguf"
    assert model.metadata.files == ["big-00001-of-00003.gguf", "big-00003-of-00003.gguf"]
    assert model.metadata.parameters is None  # a partial count would mislead
    assert model.metadata.architecture == "llama"  # the first shard is still described


def test_split_gguf_without_its_first_shard_keeps_its_id(tmp_path):
    write_gguf(tmp_path / "big.gguf", split_max_tensors=1)
    complete = scan_one(tmp_path)
    (tmp_path / "big-00001-of-00003.gguf").unlink()
    model = scan_one(tmp_path)
    assert (model.id, model.error) == (complete.id, "missing shard(s): big-00001-of-00003.gguf")


# Hugging Face folders


def test_hf_folder_metadata_comes_from_config_and_safetensors_header(tmp_path):
    folder = write_hf_folder(
        tmp_path / "TinyLlama",
        generation_config={
            "do_sample": True,
            "temperature": 0.6,
            "top_p": 0.9,
            "top_k": 5000,
            "repetition_penalty": 1.1,
            "max_new_tokens": 512,
            "eos_token_id": 2,
        },
        tokenizer_config={"chat_template": CHAT_TEMPLATE},
    )
    (folder / "README.md").write_text("# docs are not part of the model\n")
    model = scan_one(tmp_path)
    files = ["config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"]
    assert model.type == ModelType.PYTORCH
    assert (model.name, model.path, model.error) == ("TinyLlama", str(folder.resolve()), None)
    assert model.size_bytes == sum((folder / f).stat().st_size for f in files)
    assert model.metadata.to_dict() == {
        "architecture": "LlamaForCausalLM",
        "parameters": VOCAB * DIM + DIM,
        "quantization": "float16",
        "context_length": 4096,
        "has_chat_template": True,
        "generation_defaults": {"temperature": 0.6, "top_p": 0.9, "repeat_penalty": 1.1, "max_tokens": 512},
        "format": "safetensors",
        "files": files,
        "mtime": max((folder / f).stat().st_mtime for f in files),
        "declared_name": None,
        "file_type": None,
        "vocab_size": VOCAB,
        "block_count": 2,
        "kv_width": 2 * DIM // 4,
        "app": None,
        "aliases": None,
    }


def test_hf_dtype_comes_from_the_weights_not_the_config(tmp_path):
    write_hf_folder(tmp_path / "m", tensors={"w": np.zeros((4, 4), np.float32)})  # config says float16
    assert scan_one(tmp_path).metadata.quantization == "float32"


def test_greedy_generation_config_sets_temperature_zero(tmp_path):
    write_hf_folder(tmp_path / "m", generation_config={"do_sample": False, "temperature": 0.7, "top_p": 0.8})
    assert scan_one(tmp_path).metadata.generation_defaults == {"temperature": 0.0, "top_p": 0.8}


def test_the_checkpoint_recommendation_maps_what_it_can_and_names_the_rest(tmp_path):
    folder = write_hf_folder(
        tmp_path / "m",
        generation_config={
            "do_sample": True,
            "temperature": 0.6,
            "top_p": 0.9,
            "top_k": 20,
            "repetition_penalty": 1.05,
            "max_new_tokens": 300,
            "no_repeat_ngram_size": 3,
            "min_new_tokens": 5,
            "suppress_tokens": [7],
            "max_length": 4096,
            "num_beams": 1,
            "eos_token_id": [2, 7],
            "pad_token_id": 0,
            "transformers_version": "4.40.0",
        },
    )
    recommended = checkpoint_recommendation(folder)
    assert recommended.settings == {
        "temperature": 0.6,
        "top_p": 0.9,
        "top_k": 20,
        "repeat_penalty": 1.05,
        "max_tokens": 300,
    }
    # num_beams 1 is transformers' default, token ids are used anyway: neither is a recommendation.
    assert set(recommended.unmapped) == {
        "no_repeat_ngram_size",
        "min_new_tokens",
        "suppress_tokens",
        "max_length",
    }
    assert "applied on no backend" in recommended.unmapped["no_repeat_ngram_size"]
    assert "max_tokens" in recommended.unmapped["max_length"]


def test_a_checkpoint_recommendation_out_of_range_or_greedy_says_so(tmp_path):
    folder = write_hf_folder(
        tmp_path / "m", generation_config={"do_sample": False, "temperature": 0.7, "top_k": 5000}
    )
    recommended = checkpoint_recommendation(folder)
    assert recommended.settings == {"temperature": 0.0}  # transformers decodes greedily
    assert recommended.unmapped == {"top_k": "5000 is outside what top_k accepts"}


def test_a_folder_without_generation_config_recommends_nothing_with_a_clear_error(tmp_path):
    folder = write_hf_folder(tmp_path / "m")
    message = "^m has no generation_config.json: the checkpoint recommends no settings$"
    with pytest.raises(HFFolderError, match=message):
        checkpoint_recommendation(folder)


@pytest.mark.parametrize("template_file", ["chat_template.jinja", "chat_template.json"])
def test_chat_template_files_count_as_a_chat_template(tmp_path, template_file):
    folder = write_hf_folder(tmp_path / "m", tokenizer_config={"model_max_length": 2048})
    assert scan_one(tmp_path).metadata.has_chat_template is False
    (folder / template_file).write_text(CHAT_TEMPLATE)
    assert scan_one(tmp_path).metadata.has_chat_template is True


def test_sharded_hf_folder_is_one_model(tmp_path):
    folder = write_sharded_hf_folder(tmp_path / "sharded")
    model = scan_one(tmp_path)
    files = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]
    assert model.error is None
    assert model.metadata.files == files
    assert model.metadata.parameters == 10 * 20 + 30 + 2 * 3 * 4
    assert model.metadata.quantization == "float32"
    assert model.size_bytes == sum((folder / f).stat().st_size for f in files)


def test_sharded_hf_folder_with_a_missing_shard_is_an_error(tmp_path):
    write_sharded_hf_folder(tmp_path / "sharded", drop_second_shard=True)
    model = scan_one(tmp_path)
    assert model.error == "missing shard(s): model-00002-of-00002.safetensors"
    assert model.metadata.architecture == "LlamaForCausalLM"


def test_pickle_weights_are_never_unpickled(tmp_path):
    folder = write_hf_folder(
        tmp_path / "old",
        tensors={},
        config={"model_type": "gpt2", "n_positions": 1024, "torch_dtype": "bfloat16"},
    )

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "unpickled"),))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    (folder / "training_args.bin").write_bytes(b"not weights")
    model = scan_one(tmp_path)
    assert not (tmp_path / "unpickled").exists()
    assert model.error is None
    assert model.metadata.format == "pickle"
    assert model.metadata.parameters is None
    assert model.metadata.quantization == "bfloat16"
    assert model.metadata.architecture == "gpt2"
    assert model.metadata.context_length == 1024
    assert model.metadata.files == ["config.json", "pytorch_model.bin"]


def test_folder_with_config_but_no_weights_is_listed_with_an_error(tmp_path):
    write_hf_folder(tmp_path / "empty-model", tensors={})
    model = scan_one(tmp_path)
    assert model.name == "empty-model"
    assert model.error == "no weights found: expected *.safetensors or *.bin beside config.json"
    assert model.metadata.format is None
    assert model.metadata.architecture == "LlamaForCausalLM"


def test_truncated_safetensors_is_an_error(tmp_path):
    folder = write_hf_folder(tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    error = scan_one(tmp_path).error
    assert error.startswith("model.safetensors: truncated (tensor ")
    assert error.endswith(f"file has {weights.stat().st_size})")


def test_broken_config_json_is_an_error(tmp_path):
    folder = write_hf_folder(tmp_path / "m")
    (folder / "config.json").write_text("{not json")
    assert scan_one(tmp_path).error == (
        "config.json is not valid JSON:"
        " Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


# Scanning


def test_empty_and_missing_directories_give_no_models(tmp_path):
    assert ModelManager(tmp_path).scan() == []
    assert ModelManager(tmp_path / "absent").scan() == []


def test_nested_directories_are_searched_and_output_is_sorted(tmp_path):
    write_gguf(tmp_path / "a" / "b" / "c" / "zeta.gguf")
    write_hf_folder(tmp_path / "org" / "Alpha")
    write_gguf(tmp_path / "Beta.gguf")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "tool").mkdir()
    (tmp_path / "tool" / "config.json").write_text('{"theme": "dark"}')  # not a model config
    assert [m.name for m in ModelManager(tmp_path).scan()] == ["Alpha", "Beta", "zeta"]


def test_model_folders_are_not_searched_inside_but_gguf_beside_weights_is_listed(tmp_path):
    folder = write_hf_folder(tmp_path / "hf")
    write_gguf(folder / "hf-q8.gguf")
    write_gguf(folder / "onnx" / "inside.gguf")
    models = ModelManager(tmp_path).scan()
    assert [(m.name, m.type) for m in models] == [("hf", ModelType.PYTORCH), ("hf-q8", ModelType.GGUF)]
    assert "hf-q8.gguf" not in models[0].metadata.files


def test_config_beside_gguf_files_only_is_not_an_hf_model(tmp_path):
    folder = write_hf_folder(tmp_path / "repo-GGUF", tensors={})
    write_gguf(folder / "model-Q8_0.gguf")
    assert [(m.name, m.error) for m in ModelManager(tmp_path).scan()] == [("model-Q8_0", None)]


def test_hidden_and_cache_dirs_are_skipped(tmp_path):
    write_gguf(tmp_path / ".cache" / "cached.gguf")
    write_gguf(tmp_path / ".git" / "x.gguf")
    write_gguf(tmp_path / "visible" / "v.gguf")
    assert [m.name for m in ModelManager(tmp_path).scan()] == ["v"]


def test_symlink_loops_and_duplicate_links_are_safe(tmp_path):
    write_gguf(tmp_path / "real" / "m.gguf")
    (tmp_path / "real" / "loop").symlink_to(tmp_path)
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    models = ModelManager(tmp_path).scan()
    assert [(m.name, m.path) for m in models] == [("m", str((tmp_path / "real" / "m.gguf").resolve()))]


def test_ids_are_stable_across_scans_and_relative_paths(tmp_path, monkeypatch):
    write_gguf(tmp_path / "models" / "m.gguf")
    write_hf_folder(tmp_path / "models" / "hf")
    first = [m.id for m in ModelManager(tmp_path / "models").scan()]
    manager = ModelManager(tmp_path / "models")
    assert [m.id for m in manager.scan()] == [m.id for m in manager.scan()] == first
    monkeypatch.chdir(tmp_path)
    assert [m.id for m in ModelManager("models").scan()] == first
    assert [m.id for m in ModelManager(["./models/../models"]).scan_models()] == first


def test_rescan_sees_changed_files(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", context_length=1024)
    manager = ModelManager(tmp_path)
    assert manager.scan()[0].metadata.context_length == 1024
    write_gguf(path, context_length=8192)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert manager.scan()[0].metadata.context_length == 8192
    assert manager.models[0].metadata.context_length == 8192


def test_every_local_model_has_every_metadata_key(tmp_path):
    write_gguf(tmp_path / "ok.gguf")
    (tmp_path / "bad.gguf").write_bytes(b"")
    write_hf_folder(tmp_path / "hf")
    write_hf_folder(tmp_path / "noweights", tensors={})
    models = ModelManager(tmp_path).scan()
    assert len(models) == 4
    for model in models:
        assert list(model.metadata.to_dict()) == list(LOCAL_METADATA_KEYS), model.name


# Lookup and selection


@pytest.fixture
def manager(tmp_path) -> ModelManager:
    write_gguf(tmp_path / "models" / "small.gguf")
    write_gguf(tmp_path / "models" / "big.gguf", split_max_tensors=1)
    write_hf_folder(tmp_path / "models" / "hf")
    write_hf_folder(tmp_path / "models" / "broken", tensors={})
    manager = ModelManager(tmp_path / "models", max_models=2)
    manager.scan()
    return manager


def test_get_by_id_name_or_path(manager, tmp_path):
    small = next(m for m in manager.models if m.name == "small")
    assert manager.get(small.id) is small
    assert manager.get("small") is small
    assert manager.get(tmp_path / "models" / "small.gguf") is small
    assert manager.get(str(tmp_path / "models" / "hf")).name == "hf"
    big = manager.get(tmp_path / "models" / "big-00002-of-00003.gguf")  # any shard means the model
    assert (big.name, big.id) == ("big", manager.get("big").id)


def test_get_before_scan_scans(tmp_path):
    write_gguf(tmp_path / "m.gguf")
    assert ModelManager(tmp_path).get("m").name == "m"


def test_get_inspects_a_path_outside_the_scanned_dirs(manager, tmp_path):
    elsewhere = write_gguf(tmp_path / "elsewhere" / "other.gguf", context_length=512)
    model = manager.get(str(elsewhere))
    assert (model.name, model.metadata.context_length) == ("other", 512)
    assert model.id == model_id_for(elsewhere, "other")
    assert manager.inspect(elsewhere) == model


def test_get_unknown_reference_says_how_to_list_models(manager):
    with pytest.raises(ModelNotFoundError) as excinfo:
        manager.get("nope")
    assert str(excinfo.value) == (
        "no model matches 'nope': give a model id, name, GGUF file or model folder "
        "(`llm-compare scan` lists them), or an endpoint model as NAME#MODEL or BASE_URL#MODEL"
    )


def test_get_ambiguous_name_asks_for_an_id(tmp_path):
    write_gguf(tmp_path / "a" / "m.gguf")
    write_gguf(tmp_path / "b" / "m.gguf")
    manager = ModelManager(tmp_path)
    ids = [m.id for m in manager.scan()]
    with pytest.raises(ModelNotFoundError) as excinfo:
        manager.get("m")
    assert str(excinfo.value) == f"2 models are named 'm' ({ids[0]}, {ids[1]}); use an id"


def test_inspect_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="is not a model folder"):
        ModelManager(tmp_path).inspect(tmp_path)


def test_select_models_checks_limit_and_usability(manager):
    assert [m.name for m in manager.select_models(["small", "hf", "small"])] == ["small", "hf"]
    with pytest.raises(ConfigurationError, match=r"^choose at most 2 models to compare \(got 3\)$"):
        manager.select_models(["small", "hf", "big"])
    with pytest.raises(ConfigurationError) as excinfo:
        manager.select_models(["broken"])
    assert str(excinfo.value) == (
        "broken cannot be used: no weights found: expected *.safetensors or *.bin beside config.json"
    )
    with pytest.raises(ConfigurationError, match="^choose at least one model$"):
        manager.select_models([])
    with pytest.raises(ModelNotFoundError):
        manager.select_models(["small", "missing"])


# Hostile and broken files: each stays in its own row, and costs little


DEEP_JSON = "[" * 1000 + "]" * 1000  # about 2 KB; Python's parser raises RecursionError on it


def write_safetensors_header(path: Path, header: bytes) -> None:
    path.write_bytes(len(header).to_bytes(8, "little") + header)


def models_by_name(root: Path) -> dict[str, object]:
    return {m.name: m for m in ModelManager(root).scan()}


@pytest.mark.parametrize(
    "file_name",
    [
        "config.json",
        "tokenizer_config.json",
        "generation_config.json",
        "model.safetensors",
    ],
)
def test_deeply_nested_json_in_any_file_fails_only_its_model(tmp_path, file_name):
    write_gguf(tmp_path / "good.gguf")
    write_hf_folder(tmp_path / "good-hf")
    folder = write_hf_folder(tmp_path / "hostile", tokenizer_config={}, generation_config={})
    if file_name == "model.safetensors":
        write_safetensors_header(folder / file_name, DEEP_JSON.encode())
        what = "model.safetensors: its header"
    else:
        (folder / file_name).write_text(DEEP_JSON)
        what = file_name
    models = models_by_name(tmp_path)
    assert {name: m.error for name, m in models.items()} == {
        "good": None,
        "good-hf": None,
        "hostile": f"{what} nests JSON 1,000 levels deep; discovery reads at most 64",
    }


def scan_one_with_peak_memory(path: Path) -> tuple[object, int]:
    """The one model under `path`, and the peak bytes Python (and numpy) allocated to find it."""
    tracemalloc.start()
    try:
        return scan_one(path), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_50_mb_config_is_refused_by_its_size_without_being_parsed(tmp_path):
    folder = write_hf_folder(tmp_path / "huge")
    (folder / "config.json").write_text("[" + ",".join(["{}"] * (50_000_000 // 3)) + "]")
    model, peak = scan_one_with_peak_memory(tmp_path)
    assert model.error == "config.json is 47.7 MiB; discovery reads at most 4.0 MiB"
    assert peak < 2 << 20  # nothing of the file was read (parsing it took 1.25 GB)


def test_json_with_more_objects_than_any_model_file_is_refused_before_parsing(tmp_path):
    folder = write_hf_folder(tmp_path / "many")
    (folder / "tokenizer_config.json").write_text("[" + ",".join(["{}"] * 1_200_000) + "]")  # 3.6 MB
    model, peak = scan_one_with_peak_memory(tmp_path)
    assert model.error == (
        "tokenizer_config.json holds 1,200,001 JSON objects and arrays; discovery reads at most 1,000,000"
    )
    assert peak < 40 << 20  # parsing it would take about 90 MB of dicts


def test_brackets_inside_json_strings_are_not_nesting(tmp_path):
    template = "{% for m in messages %}" + "[" * 500 + "{" * 500
    write_hf_folder(tmp_path / "m", tokenizer_config={"chat_template": template})
    model = scan_one(tmp_path)
    assert (model.error, model.metadata.has_chat_template) == (None, True)


def test_an_unterminated_json_string_of_escapes_is_read_in_one_pass(tmp_path):
    """Finding strings must not backtrack: a regex that did took minutes on these 400 KB."""
    folder = write_hf_folder(tmp_path / "m")
    (folder / "generation_config.json").write_bytes(b'{"a": "' + b'\\"' * 200_000)
    assert scan_one(tmp_path).error.startswith(
        "generation_config.json is not valid JSON: Unterminated string"
    )


def test_a_safetensors_header_larger_than_any_real_one_is_refused_unread(tmp_path):
    folder = write_hf_folder(tmp_path / "m")
    weights = folder / "model.safetensors"
    with open(weights, "wb") as f:  # sparse: a 20 MB header that is all zeros
        f.write((20_000_000).to_bytes(8, "little"))
        f.truncate(8 + 20_000_000)
    assert scan_one(tmp_path).error == (
        "model.safetensors: its header is 19.1 MiB; discovery reads at most 16.0 MiB"
    )


def test_an_index_promising_more_shards_than_any_model_is_refused(tmp_path):
    folder = write_hf_folder(tmp_path / "m", tensors={})
    weight_map = {f"w{i}": f"part{i}-00001-of-99999.safetensors" for i in range(200)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert (
        scan_one(tmp_path).error == "the weights name 20,000,000 shard files; discovery reads at most 10,000"
    )


def write_raw_gguf(path: Path, kv: list[bytes] = (), tensors: list[bytes] = (), version: int = 3) -> Path:
    """A GGUF file from raw parts: the header, then each key-value and tensor info as given."""
    path.write_bytes(
        b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv)) + b"".join(kv) + b"".join(tensors)
    )
    return path


def gguf_string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def test_sparse_gguf_claiming_1e8_strings_stops_at_the_array_limit(tmp_path, monkeypatch):
    count = 10**8
    path = write_raw_gguf(
        tmp_path / "sparse.gguf", [gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, count)]
    )
    with open(path, "r+b") as f:  # 10^8 empty strings: their lengths, all zero, in a sparse file
        f.truncate(path.stat().st_size + 8 * count)
    write_gguf(tmp_path / "good.gguf")
    read_bytes = count_reads(monkeypatch)
    models = models_by_name(tmp_path)
    assert models["sparse"].error == (
        "corrupt header: array of 100000000 elements in key 1 of 1 ('tokenizer.ggml.tokens') (limit 4194304)"
    )
    assert models["good"].error is None
    assert sum(read_bytes) < 1 << 20  # stopped at the count (walking the strings read 800 MB for minutes)


def test_gguf_strings_are_limited_in_number_over_the_whole_header(tmp_path):
    per_array = 3_000_000  # under the limit of one array; three of them are over the limit of all
    path = tmp_path / "many.gguf"
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 3))
        for index in range(3):
            f.write(gguf_string(f"a{index}") + struct.pack("<IIQ", 9, 8, per_array))
            f.write(bytes(8 * per_array))
    assert scan_one(tmp_path).error == (
        "corrupt header: more than 8388608 strings and arrays by key 3 of 3 ('a2')"
        " (limit 8388608 in the whole header)"
    )


def test_gguf_string_bytes_are_limited_over_the_whole_header(tmp_path):
    path = write_raw_gguf(tmp_path / "long.gguf", [gguf_string("a") + struct.pack("<IIQ", 9, 8, 5)])
    start, length = path.stat().st_size, 16 << 20  # five strings of 16 MiB, skipped unread: a sparse file
    with open(path, "r+b") as f:
        for index in range(5):
            f.seek(start + index * (8 + length))
            f.write(struct.pack("<Q", length))
        f.truncate(start + 5 * (8 + length))
    assert scan_one(tmp_path).error == (
        "corrupt header: more than 67108864 bytes of strings by key 1 of 1 ('a') (limit 67108864 in the "
        "whole header)"
    )


def test_broken_and_looping_links_are_listed_with_a_reason(tmp_path):
    write_gguf(tmp_path / "good.gguf")
    (tmp_path / "gone.gguf").symlink_to(tmp_path / "deleted.gguf")
    (tmp_path / "loop.gguf").symlink_to("loop.gguf")
    cached = write_hf_folder(tmp_path / "cached", tensors={})  # a Hugging Face cache whose blob was deleted
    (cached / "model.safetensors").symlink_to("../blobs/0a1b2c")
    models = models_by_name(tmp_path)
    assert {name: m.error for name, m in models.items()} == {
        "good": None,
        "gone": f"gone.gguf is a broken symlink: '{tmp_path / 'deleted.gguf'}' does not exist"
        " (download the file again, or fix or remove the link)",
        "loop": "loop.gguf is a symlink loop (it points to 'loop.gguf', which leads back to itself):"
        " fix or remove the link",
        "cached": "model.safetensors is a broken symlink: '../blobs/0a1b2c' does not exist"
        " (download the file again, or fix or remove the link)",
    }
    assert models["loop"].path == str(tmp_path / "loop.gguf") and not models["loop"].usable
    assert models["gone"].type == ModelType.GGUF and models["cached"].type == ModelType.PYTORCH


def test_an_unforeseen_failure_stays_with_its_model(tmp_path, monkeypatch):
    """Whatever a reader raises (here MemoryError, which no file can be made to cause on demand)."""
    write_gguf(tmp_path / "good.gguf")
    write_gguf(tmp_path / "cursed.gguf")
    real_read = gguf_header.read_gguf_header

    def read(path):
        if Path(path).name == "cursed.gguf":
            raise MemoryError("out of memory")
        return real_read(path)

    monkeypatch.setattr(model_manager, "read_gguf_header", read)
    models = models_by_name(tmp_path)
    assert models["cursed"].error == "cannot read this model (MemoryError: out of memory); check its files"
    assert models["good"].error is None


# What held: hostile GGUF headers, each listed with a one-line error beside a good model


def tensor_info(name: str, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    return (
        gguf_string(name)
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


@pytest.mark.parametrize(
    "case",
    [
        "kv count 2^60",
        "tensor count 2^60",
        "array count 2^60",
        "string of 2^62 bytes",
        "bad magic",
        "bad version",
        "big-endian",
        "10 dimensions",
        "offset past the end",
        "empty",
    ],
)
def test_hostile_gguf_headers_are_listed_with_a_one_line_error(tmp_path, case):
    path = tmp_path / "hostile.gguf"
    if case == "kv count 2^60":
        path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2**60))
        expected = "corrupt header: 1152921504606846976 metadata keys (limit 65536)"
    elif case == "tensor count 2^60":
        path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 0))
        expected = "corrupt header: 1152921504606846976 tensors (limit 1048576)"
    elif case == "array count 2^60":
        write_raw_gguf(path, [gguf_string("a") + struct.pack("<IIQ", 9, 4, 2**60)])
        expected = f"truncated header: file ends at byte {path.stat().st_size} while reading key 1 of 1 ('a')"
    elif case == "string of 2^62 bytes":
        write_raw_gguf(path, [gguf_string("general.name") + struct.pack("<IQ", 8, 2**62)])
        expected = (
            f"truncated header: file ends at byte {path.stat().st_size} while reading key 1 of 1 "
            "('general.name')"
        )
    elif case == "bad magic":
        path.write_bytes(b"GGML" + bytes(60))
        expected = "not a GGUF file (magic bytes are b'GGML', expected b'GGUF')"
    elif case == "bad version":
        write_raw_gguf(path, version=7)
        expected = "unsupported GGUF version 7 (supported: 2, 3)"
    elif case == "big-endian":
        write_raw_gguf(path, version=3 << 24)
        expected = "big-endian GGUF (version 3) is not supported"
    elif case == "10 dimensions":
        write_raw_gguf(path, tensors=[tensor_info("w", [1] * 10)])
        expected = "corrupt header: tensor 'w' has 10 dimensions (max 4)"
    elif case == "offset past the end":
        write_raw_gguf(path, tensors=[tensor_info("w", [8], ggml_type=0, offset=1 << 40)])
        data_offset = 64  # the 57 bytes of header, aligned to 32
        assert path.stat().st_size == 57
        expected = (
            f"truncated tensor data: the tensors need {data_offset + (1 << 40) + 8 * 4} bytes but the file "
            "has 57"
        )
    else:
        path.write_bytes(b"")
        expected = "not a GGUF file (the file is empty)"
    write_gguf(tmp_path / "good.gguf")
    models = models_by_name(tmp_path)
    assert models["hostile"].error == expected
    assert models["good"].error is None


# llama.cpp's vocabulary files: real GGUF headers of 19 tokenizer families, with no tensors


def llama_cpp_gguf_reader():
    """llama.cpp's own GGUF reader (its C library, as llama-cpp-python ships it): an independent
    check of ours, and fast (gguf's GGUFReader took over 4 CPU-minutes for these 19 files)."""
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))

    class InitParams(ctypes.Structure):
        _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]

    for name, result, args in [
        ("gguf_init_from_file", ctypes.c_void_p, [ctypes.c_char_p, InitParams]),
        ("gguf_find_key", ctypes.c_int64, [ctypes.c_void_p, ctypes.c_char_p]),
        ("gguf_get_val_str", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        ("gguf_get_arr_n", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_int64]),
        ("gguf_get_n_tensors", ctypes.c_int64, [ctypes.c_void_p]),
        ("gguf_free", None, [ctypes.c_void_p]),
    ]:
        getattr(lib, name).restype, getattr(lib, name).argtypes = result, args

    def read(path: Path) -> dict:
        ctx = lib.gguf_init_from_file(str(path).encode(), InitParams(True, None))
        assert ctx, f"llama.cpp cannot read {path}"
        try:
            key = {
                k: lib.gguf_find_key(ctx, k.encode())
                for k in (
                    "general.architecture",
                    "tokenizer.ggml.model",
                    "tokenizer.chat_template",
                    "tokenizer.ggml.tokens",
                )
            }
            return {
                "architecture": lib.gguf_get_val_str(ctx, key["general.architecture"]).decode(),
                "tokenizer": lib.gguf_get_val_str(ctx, key["tokenizer.ggml.model"]).decode(),
                "has_chat_template": key["tokenizer.chat_template"] >= 0,
                "vocab_size": lib.gguf_get_arr_n(ctx, key["tokenizer.ggml.tokens"]),
                "tensors": lib.gguf_get_n_tensors(ctx),
            }
        finally:
            lib.gguf_free(ctx)

    return read


@pytest.mark.slow
def test_llama_cpp_vocabulary_files_are_listed_as_vocabulary_only(llama_cpp_vocab_dir):
    """Each is listed with what it is, and its metadata as llama.cpp's own reader reads it."""
    paths = sorted(llama_cpp_vocab_dir.glob("ggml-vocab-*.gguf"))
    assert len(paths) >= 19, [p.name for p in paths]
    models = {m.path: m for m in ModelManager(llama_cpp_vocab_dir).scan()}
    assert sorted(models) == [str(p.resolve()) for p in paths]  # the .inp/.out vectors are not models
    read = llama_cpp_gguf_reader()
    for path in paths:
        model, theirs = models[str(path.resolve())], read(path)
        meta = model.metadata
        ours = {
            "architecture": meta.architecture,
            "has_chat_template": meta.has_chat_template,
            "vocab_size": meta.vocab_size,
        }
        header = read_gguf_header(path)
        ours.update(tokenizer=header.metadata["tokenizer.ggml.model"], tensors=len(header.tensors))
        assert ours == theirs, path.name
        assert model.error == model_manager.VOCABULARY_ONLY_ERROR, path.name
        assert (model.metadata.parameters, model.size_bytes) == (0, path.stat().st_size), path.name
    qwen2 = models[str((llama_cpp_vocab_dir / "ggml-vocab-qwen2.gguf").resolve())].metadata
    assert (qwen2.architecture, qwen2.vocab_size, qwen2.has_chat_template) == ("qwen2", 151936, True)
