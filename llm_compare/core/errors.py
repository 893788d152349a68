"""Error types whose message is one line a user can act on, and any exception told in one line."""


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


# Another library's message is cut here: a hostile file or a server can make it as long as they like.
MAX_FOREIGN_CHARS = 200


def one_line(exc: BaseException, *, name_type: bool = True) -> str:
    """`exc` as one line for a user: ours (LLMCompareError) as they are, written to be read; another's
    first line, after its type name (`name_type=False` leaves the name out where the caller's own words
    say what failed, as in "not saved: database is locked"), cut at MAX_FOREIGN_CHARS. An empty
    message gives the type name. The traceback belongs in the log."""
    lines = str(exc).strip().splitlines()
    message = lines[0].strip() if lines else ""
    if not message:
        return type(exc).__name__
    if isinstance(exc, LLMCompareError):
        return message
    text = f"{type(exc).__name__}: {message}" if name_type else message
    return text if len(text) <= MAX_FOREIGN_CHARS else text[: MAX_FOREIGN_CHARS - 1] + "…"
