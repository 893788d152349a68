"""Which of our settings each kind of OpenAI-compatible server takes, and under which names. Plain
data and functions (no HTTP client), so the Configure page can say what an endpoint ignores."""

from __future__ import annotations

from llm_compare.core.config import ModelConfig

# Kinds of server we recognise, and so send their own sampling fields to.
LLAMA_CPP = "llama.cpp"  # llama.cpp's llama-server (and llamafile): GET /props
LLAMA_CPP_PYTHON = "llama-cpp-python"  # llama_cpp.server: its OpenAPI title
OLLAMA = "ollama"  # GET /api/version
VLLM = "vllm"  # GET /version
OTHER = "other"

LLAMA_CPP_PYTHON_LAST_N = 64  # llama_cpp.server's last_n_tokens_size unless started otherwise
# Settings no endpoint takes from us: the server decides them when it loads the model.
SERVER_SIDE_FIELDS = {
    "n_ctx": "set on the server: an endpoint's context size is the server's",
    "n_threads": "set on the server",
    "n_gpu_layers": "set on the server",
    "main_gpu": "set on the server",
    "dtype": "set on the server",
    "device": "set on the server",
    "trust_remote_code": "set on the server",
}
# The defaults before `auto`: every settings file saved then holds them, and they ask for nothing.
_DEFAULTS_BEFORE_AUTO = {"n_gpu_layers": 0, "device": "cpu"}
# Sampling fields beyond OpenAI's, by server kind: what the server does with ours.
_NOT_SENT = {
    LLAMA_CPP: {},
    LLAMA_CPP_PYTHON: {
        "repeat_last_n": "llama_cpp.server fixes it at start (last_n_tokens_size, 64 by default)"
    },
    VLLM: {"repeat_last_n": "vLLM penalises every earlier token, not the last n"},
    OLLAMA: {
        name: "Ollama's /v1 API does not take it: the model's Modelfile value applies"
        for name in ("top_k", "repeat_penalty", "repeat_last_n")
    },
    OTHER: {
        name: (
            "not an OpenAI field, and this server is not one we recognise (llama.cpp, Ollama, vLLM): not sent"
        )
        for name in ("top_k", "repeat_penalty", "repeat_last_n")
    },
}


def ignored_for(kind: str | None) -> dict[str, str]:
    """Every setting a server of this kind does not get from us, with why (the Configure page
    greys them out); None: not known yet, as for a server we do not recognise."""
    return SERVER_SIDE_FIELDS | _NOT_SENT.get(kind or OTHER, _NOT_SENT[OTHER])


def ignored_settings(kind: str | None, config: ModelConfig) -> dict[str, str]:
    """What a run with `config` is told it does not get: the sampling settings the server cannot
    take, and the server-side settings the user changed."""
    defaults = ModelConfig()
    ignored = {
        n: why
        for n, why in ignored_for(kind).items()
        if n not in SERVER_SIDE_FIELDS
        or getattr(config, n)
        not in (getattr(defaults, n), _DEFAULTS_BEFORE_AUTO.get(n, getattr(defaults, n)))
    }
    if kind == LLAMA_CPP_PYTHON and config.repeat_last_n == LLAMA_CPP_PYTHON_LAST_N:
        ignored.pop("repeat_last_n")  # what that server does anyway
    return ignored


def request_fields(config: ModelConfig, kind: str) -> tuple[dict, dict]:
    """(OpenAI's own fields, the server's extra fields) carrying every setting explicitly, so
    that no server default (llama.cpp server: repeat penalty 1.1, min-p 0.05) applies silently."""
    standard = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "stop": list(config.stop) or None,
    }
    if config.seed is not None:
        standard["seed"] = config.seed
    extra: dict = {}
    if kind in (LLAMA_CPP, LLAMA_CPP_PYTHON):
        # min_p 0: our samplers have no min-p. Penalties, then top-k, top-p, temperature: our order.
        extra = {"top_k": config.top_k, "min_p": 0.0, "repeat_penalty": config.repeat_penalty}
    if kind == LLAMA_CPP:
        extra |= {
            "repeat_last_n": config.repeat_last_n,
            "samplers": ["top_k", "top_p", "temperature"],
            "seed": -1 if config.seed is None else config.seed,
            "cache_prompt": False,
        }  # a reused prompt cache makes TTFTs incomparable
    if kind == VLLM:
        extra = {"top_k": config.top_k or -1, "min_p": 0.0, "repetition_penalty": config.repeat_penalty}
    return standard, extra
