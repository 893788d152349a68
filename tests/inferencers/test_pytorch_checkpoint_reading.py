"""A checkpoint converted to another dtype while it loads is read tensor by tensor (pread), not from
a memory map held until the whole model is built: the same weights, without the map's pages in
the peak (figures: docs/performance.md, "Real-size memory estimates")."""

import pytest
import torch
import transformers.modeling_utils as modeling_utils
from transformers import AutoModelForCausalLM

from llm_compare.inferencers.pytorch import read_checkpoint_without_mapping


@pytest.fixture
def opened_with(monkeypatch) -> list[str]:
    """The backend of every safetensors file transformers opens."""
    backends, opener = [], modeling_utils.safe_open

    def spy(filename, framework, device="cpu", *, backend=None, **options):
        backends.append(backend)
        return opener(filename, framework, device=device, backend=backend, **options)

    monkeypatch.setattr(modeling_utils, "safe_open", spy)
    return backends


def load(path: str, dtype: torch.dtype, converting: bool):
    with read_checkpoint_without_mapping(converting):
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)


def test_a_converted_checkpoint_is_read_without_a_map_and_gives_the_same_weights(tiny_models, opened_with):
    path = tiny_models["hf"].path  # float32 weights, loaded here in bfloat16
    mapped = load(path, torch.bfloat16, converting=False)
    read = load(path, torch.bfloat16, converting=True)
    assert opened_with == ["mmap", "pread"]
    assert modeling_utils.safe_open.__name__ == "spy", "the opener is put back"
    mapped_weights, read_weights = mapped.state_dict(), read.state_dict()
    assert mapped_weights.keys() == read_weights.keys()
    assert all(torch.equal(mapped_weights[k], read_weights[k]) for k in mapped_weights)
    assert read.dtype == torch.bfloat16
