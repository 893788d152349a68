"""The body of a model's worker process: load once, then answer generate requests.

Started by worker.py as `python -m llm_compare.services.engine.worker_main CONN_FD FLAG_FD`, so a crash
or out-of-memory kill here takes down only this model, its peak RSS is exactly this model's, and
its memory is returned on exit."""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Self

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import one_line
from llm_compare.core.models import ModelInfo
from llm_compare.core.vocabulary import vocabulary_fingerprint
from llm_compare.inferencers.base import Inferencer, LocalInferencer, create_inferencer
from llm_compare.inferencers.likelihood import score_text
from llm_compare.services.engine.messages import (
    Done,
    Evaluate,
    EvaluateCancelled,
    Evaluated,
    EvaluateEnd,
    EvaluateFailed,
    Generate,
    Init,
    Loaded,
    LoadFailed,
    Progress,
    Text,
)
from llm_compare.services.engine.shared_flag import SharedFlag
from llm_compare.services.engine.worker_figures import WorkerFigures

# Progress bars and chatter from the backends would garble the CLI's output.
QUIET_LIBRARIES = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_OFFLINE": "1",
}


def serve(conn: Connection, cancel: SharedFlag) -> None:
    """Messages in (see messages.py): Init first, then Generate | Evaluate | Stop.
    Messages out: Loaded | LoadFailed, then Text... Done for each Generate, and
    Progress... Evaluated | EvaluateCancelled | EvaluateFailed for each Evaluate."""
    try:
        init: Init = conn.recv()
        model = ModelInfo.from_dict(init.model)
        config = ModelConfig.parse(init.config)
        inferencer = create_inferencer(model, config)
        figures = WorkerFigures(local=isinstance(inferencer, LocalInferencer))
        inferencer.load()
        inferencer.warm_up()
        t_ready = perf_counter()
    except EOFError:
        return
    except Exception as exc:
        conn.send(LoadFailed(one_line(exc)))
        return
    # Only plain types cross the pipe: unpickling a library's object would import that library
    # into the dashboard process.
    versions = {name: str(version) for name, version in inferencer.backend_versions().items()}
    runtime = {name: str(value) for name, value in inferencer.runtime_info().items()}
    # After t_ready: what tells vocabularies apart is not part of loading the model.
    fingerprint = _fingerprint(inferencer)
    if fingerprint:
        runtime["vocab_fingerprint"] = fingerprint
    conn.send(Loaded(t_ready, versions, inferencer.ignored_settings(config), runtime))
    figures.model_loaded(inferencer)
    send = conn.send
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if isinstance(message, Evaluate):
            inferencer.set_threads(message.threads)
            with TermCancels(cancel) as term:
                send(_evaluate(inferencer, message.request, fingerprint, cancel, send))
            if term.received:
                os._exit(128 + signal.SIGTERM)
            continue
        if not isinstance(message, Generate):  # Stop
            break
        inferencer.set_threads(message.threads)
        with TermCancels(cancel) as term:
            figures.run_started()
            result = inferencer.answer(
                prompt=message.prompt,
                system_prompt=message.system_prompt,
                config=ModelConfig.parse(message.config),
                cancelled=cancel.is_set,
                emit=lambda text, tokens: send(Text(text, tokens)),
                load_s=message.load_s,
                warm=message.warm,
            )
            figures.run_ended(result.stats)
            send(Done(result.to_dict()))
        if term.received:
            # Reported; now go as asked, and at once: an orderly interpreter shutdown with torch
            # loaded took seconds on a busy machine, and service managers send SIGKILL soon after.
            os._exit(128 + signal.SIGTERM)
    inferencer.unload()


def _fingerprint(inferencer: Inferencer) -> str | None:
    tokens = inferencer.vocabulary()
    return vocabulary_fingerprint(tokens) if tokens else None


def _evaluate(
    inferencer: LocalInferencer, request: dict, fingerprint: str | None, cancel: SharedFlag, send
) -> EvaluateEnd:
    """Score a text; the reply that ends the request."""
    try:
        figures = score_text(
            inferencer,
            request,
            fingerprint,
            cancel.is_set,
            lambda done, total: send(Progress(done, total)),
        )
    except Exception as exc:  # reported as this model's error; the worker lives on
        return EvaluateFailed(one_line(exc))
    return EvaluateCancelled() if figures is None else Evaluated(figures)


class TermCancels:
    """While a run is in progress, SIGTERM (what `timeout` and service managers send to the whole
    process group) stops it like Stop: the partial answer is reported as cancelled, and then the
    worker exits. Outside a run SIGTERM keeps its default action: an idle or loading worker has
    nothing to keep, and dies at once."""

    def __init__(self, cancel: SharedFlag):
        self.cancel = cancel
        self.received = False

    def __enter__(self) -> Self:
        signal.signal(signal.SIGTERM, self._on_term)
        return self

    def __exit__(self, *exc_info) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _on_term(self, signum, frame) -> None:
        self.received = True
        self.cancel.set()


def main(argv: list[str]) -> None:
    # A worker never outlives its parent for long: when the parent goes, the connection closes,
    # and the next message sent or awaited here ends this process.
    conn_fd, flag_fd = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.update(QUIET_LIBRARIES)
    serve(Connection(conn_fd), SharedFlag(flag_fd))


if __name__ == "__main__":
    main(sys.argv[1:])
