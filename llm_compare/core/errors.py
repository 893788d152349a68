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
