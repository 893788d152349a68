"""Error types whose message is one line a user can act on."""


class LLMCompareError(Exception):
    """Base class: str(error) is the one-line message shown in the UI and CLI."""


class ModelNotFoundError(LLMCompareError):
    """A model reference matches no discovered model, file or folder."""


class ModelLoadError(LLMCompareError):
    """The backend could not load the model."""


class InferenceError(LLMCompareError):
    """Generation failed after the model was loaded."""


class ConfigurationError(LLMCompareError):
    """A configuration value is invalid."""


class OutOfMemoryBudgetError(LLMCompareError):
    """A model would not fit in memory even with every other model unloaded."""


# Exit codes of every command: 1 when a model failed (the others still ran), 2 on bad usage,
# 130 when interrupted (what shells report for Ctrl-C; used for SIGTERM too).
EXIT_OK, EXIT_MODEL_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
