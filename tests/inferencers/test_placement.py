"""The placement decisions, with the machine's facts passed in: which device auto picks, how many
GGUF layers fit, what a setting that cannot take effect says, how the device is named."""

from __future__ import annotations

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ModelLoadError
from llm_compare.inferencers import placement
from llm_compare.inferencers.placement import (
    ALL_LAYERS,
    CPU_ONLY_BUILD,
    GPU_RESERVE_BYTES,
    cpu_text,
    expected_torch_device,
    gguf_gpu_layers,
    gguf_layers_reported,
    gguf_offload_bytes,
    gpu_text,
    llama_cpu_feature,
    llama_gpu_backend,
    torch_cpu_feature,
    torch_device,
    torch_device_name,
)
from llm_compare.system.gpus import GpuInfo

GiB = 1024**3


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_device_picks_cuda_then_mps_then_cpu(cuda, mps, expected):
    assert torch_device("auto", cuda, mps) == expected


def test_an_explicit_device_that_is_missing_stays_a_load_error():
    with pytest.raises(ModelLoadError, match="device 'cuda' is not available.*set device to auto or cpu"):
        torch_device("cuda", cuda_available=False, mps_available=True)
    with pytest.raises(ModelLoadError, match="device 'mps' is not available"):
        torch_device("mps", cuda_available=True, mps_available=False)
    assert torch_device("cpu", cuda_available=True, mps_available=True) == "cpu"


def test_the_model_goes_to_main_gpu_and_a_missing_gpu_is_named():
    assert torch_device_name("cuda", 1, cuda_count=2) == "cuda:1"
    assert torch_device_name("cpu", 3, cuda_count=0) == "cpu"
    with pytest.raises(ModelLoadError, match="main_gpu 2 does not exist: .* 2 CUDA GPU"):
        torch_device_name("cuda", 2, cuda_count=2)


@pytest.mark.parametrize(
    ("nvidia", "machine", "expected"),
    [
        (True, "Linux x86_64", "cuda"),
        (False, "Darwin arm64", "mps"),
        (False, "Darwin x86_64", "cpu"),
        (False, "Linux aarch64", "cpu"),
    ],
)
def test_the_parent_predicts_the_auto_device_without_torch(nvidia, machine, expected):
    assert expected_torch_device("auto", has_nvidia_gpu=nvidia, machine=machine) == expected
    assert expected_torch_device("mps", has_nvidia_gpu=nvidia, machine=machine) == "mps"


def test_the_parent_asks_nvml_for_its_gpus(monkeypatch):
    monkeypatch.setattr(placement, "nvidia_gpus", lambda: [GpuInfo(0, "NVIDIA H100", 80 * GiB, 79 * GiB)])
    assert expected_torch_device("auto", machine="Linux x86_64") == "cuda"
    monkeypatch.setattr(placement, "nvidia_gpus", lambda: [])
    assert expected_torch_device("auto", machine="Linux x86_64") == "cpu"


def test_dtype_auto_follows_the_resolved_device(monkeypatch):
    config = ModelConfig(device="auto")
    assert config.effective_dtype_on("cpu") == "float32"
    assert config.effective_dtype_on("cuda") is None
    assert ModelConfig(dtype="float16").effective_dtype_on("cpu") == "float16"
    monkeypatch.setattr(placement, "nvidia_gpus", lambda: [GpuInfo(0, "NVIDIA H100", 80 * GiB, 79 * GiB)])
    assert config.effective_dtype is None  # the parent expects cuda
    monkeypatch.setattr(placement, "nvidia_gpus", lambda: [])
    monkeypatch.setattr(placement.platform, "system", lambda: "Linux")
    assert config.effective_dtype == "float32"
    assert ModelConfig(device="cuda").effective_dtype is None


# --- GGUF layers ----------------------------------------------------------------------------------

TOTAL = 33  # 32 repeating layers and the output layer
MODEL = 8 * GiB


def test_auto_offloads_every_layer_when_the_model_fits():
    assert gguf_gpu_layers("auto", True, TOTAL, MODEL, MODEL + GPU_RESERVE_BYTES) == (TOTAL, None)


def test_auto_offloads_the_layers_that_fit_when_only_part_does():
    free = MODEL // 2 + GPU_RESERVE_BYTES  # room for half the model
    layers, warning = gguf_gpu_layers("auto", True, TOTAL, MODEL, free)
    assert (layers, warning) == (16, None)  # 16.5 layers' worth, rounded down


def test_auto_offloads_nothing_when_no_layer_fits():
    assert gguf_gpu_layers("auto", True, TOTAL, MODEL, GPU_RESERVE_BYTES // 2) == (0, None)
    assert gguf_gpu_layers("auto", True, TOTAL, MODEL, GPU_RESERVE_BYTES + MODEL // 100) == (0, None)


def test_auto_offloads_everything_when_free_memory_is_unknown():
    assert gguf_gpu_layers("auto", True, TOTAL, MODEL, None) == (TOTAL, None)
    assert gguf_gpu_layers("auto", True, None, MODEL, None) == (ALL_LAYERS, None)


def test_auto_without_a_layer_count_offloads_all_or_nothing():
    assert gguf_gpu_layers("auto", True, None, MODEL, 2 * MODEL) == (ALL_LAYERS, None)
    assert gguf_gpu_layers("auto", True, None, MODEL, MODEL // 2) == (0, None)


def test_a_cpu_only_build_offloads_nothing_and_says_so_for_an_explicit_count():
    assert gguf_gpu_layers("auto", False, TOTAL, MODEL, None) == (0, None)  # auto: no warning
    assert gguf_gpu_layers(0, False, TOTAL, MODEL, None) == (0, None)
    for asked in (5, -1):
        layers, warning = gguf_gpu_layers(asked, False, TOTAL, MODEL, None)
        assert layers == 0
        assert warning == CPU_ONLY_BUILD
    assert "built for the CPU only" in CPU_ONLY_BUILD and "scripts/setup.sh" in CPU_ONLY_BUILD


def test_an_explicit_count_is_kept_within_the_model():
    assert gguf_gpu_layers(5, True, TOTAL, MODEL, 0) == (5, None)  # no memory check: the user asked
    assert gguf_gpu_layers(99, True, TOTAL, MODEL, None) == (TOTAL, None)
    assert gguf_gpu_layers(-1, True, TOTAL, MODEL, None) == (TOTAL, None)
    assert gguf_gpu_layers(-1, True, None, MODEL, None) == (ALL_LAYERS, None)
    assert gguf_gpu_layers(0, True, TOTAL, MODEL, 10 * MODEL) == (0, None)


def test_layers_are_counted_as_llama_cpp_reports_them():
    assert gguf_layers_reported(ALL_LAYERS, 32) == (33, 33)
    assert gguf_layers_reported(99, 32) == (33, 33)
    assert gguf_layers_reported(10, 32) == (10, 33)
    assert gguf_layers_reported(0, 32) == (0, 33)


def test_the_offload_estimate_adds_an_f16_kv_cache():
    assert gguf_offload_bytes(1000, 2, 64, 16) == 1000 + 2 * 2 * 2 * 64 * 16
    assert gguf_offload_bytes(1000, None, 64, 16) == 1000


# --- the device in words --------------------------------------------------------------------------

CPU_INFO = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | AVX512 = 0 | OPENMP = 1 | "
CUDA_INFO = "CUDA : ARCHS = 900 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | " + CPU_INFO
METAL_INFO = "Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ARM_FMA = 1 | ACCELERATE = 1 | "


def test_llama_system_info_tells_the_gpu_backend_and_the_best_cpu_feature():
    assert llama_gpu_backend(CPU_INFO) is None
    assert llama_gpu_backend(CUDA_INFO) == "CUDA"
    assert llama_gpu_backend(METAL_INFO) == "Metal"
    assert llama_cpu_feature(CPU_INFO) == "AVX2"  # AVX512 = 0 is off
    assert llama_cpu_feature(METAL_INFO) == "NEON"
    assert llama_cpu_feature("CPU : SSE3 = 1 | ") is None


def test_device_texts():
    assert cpu_text(2, "AVX2") == "CPU, 2 threads, AVX2"
    assert cpu_text(1, None) == "CPU, 1 thread"
    assert gpu_text("CUDA", "NVIDIA H100 80GB HBM3") == "CUDA: NVIDIA H100 80GB HBM3"
    assert gpu_text("Metal", "Apple M3") == "Metal: Apple M3"
    assert gpu_text("Vulkan", None) == "Vulkan"
    assert torch_cpu_feature("AVX512") == "AVX512"
    assert torch_cpu_feature("DEFAULT") is None
