"""ModelInfo and ModelMetadata: typed fields, and the same plain dicts as before they were typed."""

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.models import (
    ENDPOINT_METADATA_KEYS,
    LOCAL_METADATA_KEYS,
    ModelInfo,
    ModelMetadata,
    ModelType,
)

# A GGUF model's metadata as `llm-compare scan --json` printed it before ModelMetadata existed.
STORED_GGUF = {
    "architecture": "llama",
    "parameters": 1_400_000,
    "quantization": "Q8_0",
    "context_length": 4096,
    "has_chat_template": True,
    "generation_defaults": {"temperature": 0.6},
    "format": "gguf",
    "files": ["m.gguf"],
    "mtime": 1.7e9,
    "declared_name": "M",
    "file_type": "Q8_0",
    "vocab_size": 32000,
    "block_count": 22,
    "kv_width": 256,
    "app": None,
    "aliases": None,
}
STORED_ENDPOINT = {
    "format": "openai",
    "architecture": "vllm",
    "has_chat_template": True,
    "context_length": 8192,
    "generation_defaults": {},
    "files": [],
    "endpoint": Endpoint.parse({"name": "srv", "base_url": "http://127.0.0.1:8000/v1"}).model_dump(),
    "server_model": "qwen",
    "server_kind": "vllm",
    "healthy": True,
    "health_latency_ms": 12.5,
}


def test_a_stored_local_models_dict_reads_back_into_fields_and_writes_back_the_same():
    meta = ModelMetadata.from_dict(STORED_GGUF)
    assert (meta.parameters, meta.kv_width, meta.files, meta.endpoint) == (1_400_000, 256, ["m.gguf"], None)
    assert meta.to_dict() == STORED_GGUF
    assert list(meta.to_dict()) == list(LOCAL_METADATA_KEYS)


def test_a_stored_endpoint_models_dict_reads_back_with_its_endpoint_typed():
    meta = ModelMetadata.from_dict(STORED_ENDPOINT)
    assert isinstance(meta.endpoint, Endpoint)
    assert (meta.endpoint.base_url, meta.server_model, meta.healthy) == (
        "http://127.0.0.1:8000/v1",
        "qwen",
        True,
    )
    assert meta.to_dict() == STORED_ENDPOINT
    assert list(meta.to_dict()) == list(ENDPOINT_METADATA_KEYS)


def test_unknown_keys_are_kept_and_written_back_and_missing_ones_are_none():
    meta = ModelMetadata.from_dict({"architecture": "gpt2", "rope_theta": 10000.0, "unknown": 1})
    assert (meta.architecture, meta.parameters, meta.app) == ("gpt2", None, None)
    assert meta.unknown == {"rope_theta": 10000.0, "unknown": 1}
    written = meta.to_dict()
    assert written == {
        **dict.fromkeys(LOCAL_METADATA_KEYS),
        "architecture": "gpt2",
        "rope_theta": 10000.0,
        "unknown": 1,
    }


def test_a_field_of_the_other_kind_is_written_only_when_set():
    assert "server_model" not in ModelMetadata().to_dict()
    assert ModelMetadata(server_kind="ollama").to_dict()["server_kind"] == "ollama"
    endpoint = Endpoint.parse({"name": "srv", "base_url": "http://127.0.0.1:8000/v1"})
    assert "parameters" not in ModelMetadata(endpoint=endpoint).to_dict()


def test_to_dict_copies_so_the_model_cannot_be_changed_through_it():
    meta = ModelMetadata(files=["a.gguf"], generation_defaults={"top_k": 4})
    written = meta.to_dict()
    written["files"].append("b.gguf")
    written["generation_defaults"]["top_k"] = 9
    assert (meta.files, meta.generation_defaults) == (["a.gguf"], {"top_k": 4})


def test_model_info_crosses_a_pipe_as_plain_data_and_comes_back_equal():
    model = ModelInfo(
        "m-1", "m", ModelType.OPENAI, "http://x/v1#qwen", 0, ModelMetadata.from_dict(STORED_ENDPOINT)
    )
    data = model.to_dict()
    assert list(data) == ["id", "name", "type", "path", "size_bytes", "metadata", "error"]
    assert (data["type"], data["metadata"]) == ("openai", STORED_ENDPOINT)
    assert ModelInfo.from_dict(data) == model


def test_model_info_reads_a_stored_dict_without_metadata():
    model = ModelInfo.from_dict(
        {"id": "m-1", "name": "m", "type": "gguf", "path": "/m.gguf", "size_bytes": 1}
    )
    assert model.metadata == ModelMetadata() and not model.has_chat_template
