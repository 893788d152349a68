"""Per-model generation and backend settings: one typed definition gives defaults,
validation, help text and the JSON schema the configuration page draws its form from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_compare.core.errors import ConfigurationError

# Fields that change how a model is loaded: a change means a fresh worker.
LOAD_FIELDS = ("n_ctx", "n_gpu_layers", "main_gpu", "dtype", "device", "trust_remote_code")
# How an answer is generated: what "copy to all" copies. The other fields (load settings, threads,
# trust_remote_code) belong to one model and its machine; one vetted model's are never copied to another.
GENERATION_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "repeat_penalty",
    "repeat_last_n",
    "seed",
    "stop",
    "system_prompt",
    "mode",
)
# The one sampling order on every backend, llama.cpp's (llm_compare/inferencers/sampling.py builds it).
SAMPLING_ORDER = "penalties → top-k → top-p → temperature → draw"
_ORDER_NOTE = f" Order on every backend: {SAMPLING_ORDER}."


class ModelConfig(BaseModel):
    # Strict types: a saved `"max_tokens": true` or `"12"` or `12.0` is refused, never read as 1 or 12
    # (an int field takes a JSON integer; a float field takes any finite number).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)

    temperature: float = Field(
        0.7,
        ge=0.0,
        le=2.0,
        title="Temperature",
        description=(
            "Sampling temperature, applied to the tokens top-k and top-p kept, just before the draw; 0 means "
            "greedy (always the most likely token after the repeat penalty)."
        )
        + _ORDER_NOTE,
    )
    top_p: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        title="Top-p",
        description=(
            "Nucleus sampling: keep the smallest set of tokens whose probability adds up to at least top_p, "
            "reckoned on the penalised logits at temperature 1 (temperature comes later); 1.0 disables it."
        )
        + _ORDER_NOTE,
    )
    top_k: int = Field(
        40,
        ge=0,
        le=1000,
        title="Top-k",
        description="Keep only the k most likely tokens (after the repeat penalty); 0 disables the limit."
        + _ORDER_NOTE,
    )
    max_tokens: int = Field(
        256, ge=1, le=32768, title="Max new tokens", description="Most tokens to generate for one answer."
    )
    repeat_penalty: float = Field(
        1.0,
        ge=0.5,
        le=2.0,
        title="Repeat penalty",
        description=(
            "Penalty on tokens among the last repeat_last_n tokens (prompt and answer): a positive logit is "
            "divided by it, a negative one multiplied; 1.0 disables it."
        )
        + _ORDER_NOTE,
    )
    repeat_last_n: int = Field(
        64,
        ge=0,
        le=262144,
        title="Repeat window (tokens)",
        description=(
            "How many of the latest tokens (prompt and answer together) the repeat penalty looks at, as "
            "llama.cpp's --repeat-last-n; 0 disables the penalty."
        )
        + _ORDER_NOTE,
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**31 - 1,
        title="Seed",
        description="Random seed for sampling; empty means a new seed each run.",
    )
    stop: list[str] = Field(
        default_factory=list,
        max_length=16,
        title="Stop strings",
        description="Stop generating when any of these strings appears (it is not included in the answer).",
    )
    system_prompt: str = Field(
        "",
        max_length=20000,
        title="System prompt",
        description="System message used in chat mode; overridden by a system prompt given for the run.",
    )
    mode: Literal["auto", "chat", "raw"] = Field(
        "auto",
        title="Prompt mode",
        description="auto: chat template when the model has one, else raw completion.",
    )
    # Backend settings (GGUF / llama.cpp)
    n_ctx: int = Field(
        2048,
        ge=16,
        le=262144,
        title="Context window (tokens)",
        description="GGUF: context window in tokens (prompt plus answer).",
    )
    n_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        title="CPU threads",
        description=(
            "CPU threads for generation; empty means one per physical core (llama.cpp's default), shared out "
            "between models running in parallel."
        ),
    )
    n_gpu_layers: Annotated[int, Field(ge=-1, le=1000)] | Literal["auto"] = Field(
        "auto",
        title="GPU layers",
        description=(
            "GGUF: layers to offload to a GPU; 0 keeps all on the CPU, -1 offloads all. auto: every layer "
            "when this llama.cpp can offload and the model fits the GPU's free memory, as many as fit when "
            "only part does, none on a CPU-only build."
        ),
    )
    main_gpu: int = Field(
        0,
        ge=0,
        le=63,
        title="GPU index",
        description=(
            "The GPU a model runs on, by index (GGUF: llama.cpp's main_gpu, the whole model on that one GPU; "
            "PyTorch: cuda:main_gpu). One GPU per model."
        ),
    )
    # Backend settings (PyTorch / transformers)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        title="Weight dtype",
        description=(
            "PyTorch: weight dtype; auto means float32 on the CPU (as llama.cpp computes there) and the "
            "checkpoint's own dtype on a GPU."
        ),
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto",
        title="Device",
        description=(
            "PyTorch: device to run on; auto: cuda when there is an NVIDIA GPU, else mps on Apple Silicon, "
            "else cpu. cuda or mps where there is none is a load error."
        ),
    )
    trust_remote_code: bool = Field(
        False,
        title="Trust remote code",
        description="PyTorch: run Python code shipped in the model folder. Only for folders you trust.",
    )

    @field_validator("stop")
    @classmethod
    def _stop_strings_not_empty(cls, stop: list[str]) -> list[str]:
        if any(s == "" for s in stop):
            raise ValueError("empty stop strings are not allowed")
        return stop

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def asks_for_gpu(self) -> bool:
        """Whether the settings name a GPU outright (a layer count, a GPU device): then a run with
        no layer on a GPU is news worth showing. `auto` asks for nothing: it takes what is there."""
        return self.n_gpu_layers not in (0, "auto") or self.device in ("cuda", "mps")

    @property
    def effective_dtype(self) -> str | None:
        """PyTorch: the dtype weights are loaded in, on the device this config asks for (auto: the
        device expected_torch_device predicts, as a parent process without torch can tell it)."""
        if self.device != "auto":
            return self.effective_dtype_on(self.device)
        # Imported here: placement is the inferencers' module of pure decisions, and core knows
        # nothing of devices otherwise.
        from llm_compare.inferencers.placement import expected_torch_device

        return self.effective_dtype_on(expected_torch_device(self.device))

    def effective_dtype_on(self, device: str) -> str | None:
        """PyTorch: the dtype weights are loaded in on `device` (a resolved one: cpu, cuda, mps);
        None keeps the checkpoint's. On the CPU, auto means float32: half-precision matmuls are
        slow or unsupported there, and llama.cpp computes in float32 on the CPU too."""
        if self.dtype != "auto":
            return self.dtype
        return "float32" if device == "cpu" else None

    def load_key(self) -> tuple:
        """The settings a loaded model depends on."""
        return tuple(getattr(self, name) for name in LOAD_FIELDS)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ModelConfig:
        """Validate `data`, raising ConfigurationError with a one-line message."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(describe_validation_error(exc)) from None

    @classmethod
    def parse_keeping_valid(cls, data: dict[str, Any]) -> tuple[ModelConfig, dict[str, str]]:
        """The settings of `data` that are valid, each invalid or unknown one dropped (the field's
        default takes its place); returns the config and the dropped names with why."""
        values, dropped = dict(data), {}
        while errors := field_errors(values):
            if not errors.keys() & values.keys():  # cannot happen while the defaults are valid
                raise ConfigurationError("; ".join(f"{name}: {why}" for name, why in errors.items()))
            for name, why in errors.items():
                dropped[name] = why
                values.pop(name, None)
        return cls.model_validate(values), dropped

    def updated(self, **changes: Any) -> ModelConfig:
        return ModelConfig.parse({**self.model_dump(), **changes})


def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Per-field messages for `data` (empty when valid), for forms that show errors beside fields."""
    try:
        ModelConfig.model_validate(data)
    except ValidationError as exc:
        return {_field_name(err): _message(err) for err in _one_per_field(exc.errors())}
    return {}


def describe_validation_error(exc: ValidationError) -> str:
    return "; ".join(f"{_field_name(e)}: {_message(e)}" for e in _one_per_field(exc.errors()))


def _one_per_field(errors: list[dict]) -> list[dict]:
    """A field typed `int | "auto"` fails twice (once per alternative): keep the integer's
    error, saying that auto is the other choice."""
    kept = []
    for err in errors:
        loc = tuple(str(part) for part in err.get("loc", ()))
        if len(loc) == 2 and loc[1] == "literal['auto']":
            continue
        if len(loc) == 2 and loc[1] == "constrained-int":
            err = {**err, "msg": err["msg"] + ", or auto"}
        kept.append(err)
    return kept


def _field_name(err: dict) -> str:
    loc = [str(part) for part in err.get("loc", ())]
    return loc[0] if loc else "config"


def _message(err: dict) -> str:
    message = err["msg"].removeprefix("Value error, ")
    message = message.split(": ", 1)[1] if message.startswith(_field_name(err) + ": ") else message
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        return f"unknown setting (valid ones: {', '.join(ModelConfig.model_fields)})"
    if got is not None and not isinstance(got, (dict, list)):
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "…"  # a 1 MB value stays one short line
        return f"{message.lower()} (got {shown})"
    return message.lower()
