"""The small surface every backend implements, and the registry that maps a ModelType to it."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.core.results import InferenceResult
from llm_compare.inferencers.detokenize import streaming_decoder

if TYPE_CHECKING:
    import numpy as np

    from llm_compare.inferencers.placement import Placement

# Backend modules are imported lazily, by name, so that only a worker pays for torch / llama_cpp.
_BACKEND_MODULES = {
    ModelType.PYTORCH: "llm_compare.inferencers.pytorch",
    ModelType.GGUF: "llm_compare.inferencers.gguf",
    ModelType.OPENAI: "llm_compare.inferencers.openai_endpoint",
}
_REGISTRY: dict[ModelType, type[Inferencer]] = {}


def register(model_type: ModelType) -> Callable[[type[Inferencer]], type[Inferencer]]:
    def decorate(cls: type[Inferencer]) -> type[Inferencer]:
        cls.model_type = model_type
        _REGISTRY[model_type] = cls
        return cls

    return decorate


def backend_class(model_type: ModelType) -> type[Inferencer]:
    """The backend class registered for `model_type` (its module imported on first use; the
    modules import their heavy libraries only when a model is loaded)."""
    if model_type not in _REGISTRY:
        importlib.import_module(_BACKEND_MODULES[model_type])
    return _REGISTRY[model_type]


def create_inferencer(model: ModelInfo, config: ModelConfig) -> Inferencer:
    return backend_class(model.type)(model, config)


def chat_messages(prompt: str | list[dict], system_prompt: str) -> list[dict]:
    """What a chat template renders: the conversation given (or the prompt as the user's one
    message), after the system prompt when there is one and the conversation brings none."""
    messages = (
        [{"role": m["role"], "content": m["content"]} for m in prompt]
        if isinstance(prompt, list)
        else [{"role": "user", "content": prompt}]
    )
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def raw_text(prompt: str | list[dict]) -> str:
    """The text of a raw completion; a conversation cannot be one."""
    if isinstance(prompt, list):
        raise ConfigurationError(
            "a conversation needs a chat template and this model has none: send a plain prompt"
        )
    return prompt


class Inferencer(ABC):
    """The base of every backend, local model or HTTP endpoint: what a worker process needs of it.
    Load it, answer one prompt, say how it ran."""

    model_type: ClassVar[ModelType]
    # ModelConfig fields this backend does not honour, with the reason shown to the user.
    ignored_fields: ClassVar[dict[str, str]] = {}
    # Why this backend cannot give the logits over its whole vocabulary at every position
    # (likelihood scoring needs them); None when it can, through `evaluate`.
    full_logits_unavailable: ClassVar[str | None] = None

    def __init__(self, model: ModelInfo, config: ModelConfig):
        self.model = model
        self.config = config

    @abstractmethod
    def load(self) -> None:
        """Read the weights and build the backend object (for an endpoint: reach the server)."""

    @abstractmethod
    def answer(
        self,
        *,
        prompt: str | list[dict],
        system_prompt: str | None,
        config: ModelConfig,
        cancelled: Callable[[], bool],
        emit: Callable[[str, int], None],
        load_s: float,
        warm: bool,
    ) -> InferenceResult:
        """Generate one answer, calling `emit(new_text, completion_tokens)` as text arrives, and
        return it with its figures; a failure is the result's error, never an exception."""

    def warm_up(self) -> None:
        """Run the model once on a token, as llama.cpp's own tools do after loading: first-call
        costs (buffer allocation, kernel selection) then count as load time, not as TTFT."""

    def set_threads(self, n_threads: int) -> None:
        """CPU threads for the next generation (changeable without reloading)."""

    def unload(self) -> None:
        """Free the backend object (the worker process exits afterwards anyway)."""

    def backend_versions(self) -> dict[str, str]:
        return {}

    def runtime_info(self) -> dict[str, str]:
        """How the model was actually loaded (e.g. the dtype), stored with each run."""
        return {}

    def placement(self) -> Placement | None:
        """Where the loaded model runs, for the run about to be reported (the threads it used
        count); None where that is not ours to know (an HTTP endpoint's server decides)."""
        return None

    def ignored_settings(self, config: ModelConfig) -> dict[str, str]:
        """The ignored fields that this config sets away from their defaults."""
        defaults = ModelConfig()
        return {
            name: why
            for name, why in self.ignored_fields.items()
            if getattr(config, name) != getattr(defaults, name)
        }

    def vocabulary(self) -> list[str] | None:
        """The tokenizer's token strings by id (as its tokenizer file writes them); None when unknown."""
        return None


class LocalInferencer(Inferencer):
    """One loaded local model, run in this process token by token (PyTorch, GGUF). Generation yields
    token ids; the shared loop in `generation.py` turns them into text, applies stop strings and
    limits, and takes the timings."""

    def answer(
        self,
        *,
        prompt: str | list[dict],
        system_prompt: str | None,
        config: ModelConfig,
        cancelled: Callable[[], bool],
        emit: Callable[[str, int], None],
        load_s: float,
        warm: bool,
    ) -> InferenceResult:
        from llm_compare.inferencers.generation import run_generation  # it builds on this module

        return run_generation(
            self,
            prompt=prompt,
            system_prompt=system_prompt,
            config=config,
            cancelled=cancelled,
            emit=emit,
            load_s=load_s,
            warm=warm,
        )

    @abstractmethod
    def has_chat_template(self) -> bool: ...

    @abstractmethod
    def encode_prompt(self, prompt: str | list[dict], system_prompt: str, chat: bool) -> list[int]:
        """Token ids fed to the model: the chat template applied to chat_messages(...) when
        `chat`, else the raw text (raw_text(prompt))."""

    @abstractmethod
    def generate(
        self,
        prompt_ids: list[int],
        config: ModelConfig,
        on_token: Callable[..., bool],
        cancelled: Callable[[], bool],
    ) -> None:
        """Generate, calling `on_token(id)` for each new token id as soon as it is produced, or
        `on_token(id, at)` for ids handed over in batches, `at` being when the id was produced
        (perf_counter's clock), until it returns False or the context is full. Runs in the calling
        thread: no hand-off between threads sits between the token and its timestamp. Checks
        `cancelled()` inside prompt processing too (a long prompt on a big model takes seconds) and
        then returns early."""

    @abstractmethod
    def decode_ids(self, ids: list[int]) -> str:
        """The text of `ids` decoded at once, without the text of special (control) tokens."""

    def new_text_decoder(self, prompt_ids: list[int]) -> Callable[[int | None], str]:
        """A function that takes the next generated id and returns the text it adds after the
        prompt; called with None at the end, it returns whatever it still holds back."""
        return streaming_decoder(self.decode_ids, prompt_ids)

    @abstractmethod
    def special_token_text(self, token_id: int) -> str:
        """The text of a special (control) token such as `<|im_start|>`, '' for any other token.
        Answers do not show it, as llama.cpp's server and OpenAI-style APIs do not; stop strings
        still match it."""

    @abstractmethod
    def is_end_of_sequence(self, token_id: int) -> bool:
        """Whether the token ends the answer. One rule on every backend: every end-of-generation
        token the model declares, as llama.cpp counts them (its EOS, end-of-turn and end-of-message
        tokens, and the end-of-turn markers it knows by name, such as `<|im_end|>`), so that a chat
        model stops at the end of its turn even when its config names only the EOS token."""

    def context_limit(self, config: ModelConfig) -> int | None:
        """Most tokens (prompt plus answer) the loaded model can hold, when known."""
        return self.model.metadata.context_length

    def evaluate(
        self, token_ids: Sequence[int], first_output: int = 0, cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray | None:
        """The logits (float32, one row per position from `first_output` on, over the whole
        vocabulary) of `token_ids` evaluated from an empty context: row i predicts the token after
        `token_ids[: first_output + i + 1]`. None when `cancelled()` stopped it."""
        raise ConfigurationError(f"{self.model.name} cannot be scored: {self.full_logits_unavailable}")

    def text_bytes(self, ids: Sequence[int], start: int, end: int) -> int:
        """UTF-8 bytes of the text that ids[start:end] stand for (special tokens have none): the
        denominator of bits per byte. By default from decoding, with some tokens before `start`
        so that a word's leading space and a character cut between tokens come out right."""
        before = max(0, start - 16)
        return len(self.decode_ids(list(ids[before:end])).encode()) - len(
            self.decode_ids(list(ids[before:start])).encode()
        )

    def chunk_bos(self) -> int | None:
        """The BOS id a scored chunk starts with (llama-perplexity puts it in place of the chunk's
        first token), or None when this model's tokenizer adds no BOS."""
        return None

    @abstractmethod
    def set_threads(self, n_threads: int) -> None:
        """CPU threads for the next generation (changeable without reloading)."""

    def use_chat(self, mode: str) -> bool:
        if mode == "raw":
            return False
        if mode == "chat" and not self.has_chat_template():
            raise ConfigurationError(f"{self.model.name} has no chat template: use mode 'raw' or 'auto'")
        return self.has_chat_template()
