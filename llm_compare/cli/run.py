"""`llm-compare run`: one prompt to one or more models, answers streamed or printed whole, every
run kept in the store."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from llm_compare.cli.common import (
    API_KEY_ENV_HELP,
    MODEL_REF_HELP,
    add_models_dir,
    add_no_other_apps,
    argument_type,
    models_dirs,
    other_app_folders,
)
from llm_compare.core.config import ModelConfig, field_errors
from llm_compare.core.errors import EXIT_INTERRUPTED, EXIT_MODEL_FAILED, EXIT_OK, ConfigurationError
from llm_compare.core.formatting import stats_line
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult
from llm_compare.core.text import check_unicode, terminal_safe
from llm_compare.system.signals import stop_on_interrupt


def add_parser(commands) -> argparse.ArgumentParser:
    run = commands.add_parser("run", help="send one prompt to one or more models")
    run.add_argument("--model", action="append", required=True, metavar="REF", help=MODEL_REF_HELP)
    run.add_argument("--api-key-env", dest="api_key_env", metavar="NAME", help=API_KEY_ENV_HELP)
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompt",
        type=argument_type(_checked_prompt),
        help="the prompt text, or - to read it from standard input",
    )
    source.add_argument(
        "--prompt-file",
        dest="prompt_file",
        metavar="FILE",
        help="read the prompt from FILE (UTF-8), exactly as written",
    )
    run.add_argument(
        "--system",
        type=argument_type(lambda text: check_unicode(text, "system prompt")),
        help="system prompt (chat mode)",
    )
    # These override the models' saved settings for this run only (docs/usage.md has the rest).
    run.add_argument("--max-tokens", type=int, dest="max_tokens", metavar="N", help="most tokens to generate")
    run.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (0: greedy)")
    run.add_argument("--top-p", type=float, dest="top_p", metavar="P", help="nucleus sampling (1: off)")
    run.add_argument(
        "--top-k", type=int, dest="top_k", metavar="K", help="keep the K likeliest tokens (0: off)"
    )
    run.add_argument("--seed", type=int, metavar="S", help="sampling seed, for answers that repeat")
    run.add_argument(
        "--mode",
        choices=["auto", "chat", "raw"],
        help="chat: through the model's chat template; raw: the prompt as it is; auto: chat when it has one",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        dest="settings",
        type=argument_type(parse_setting),
        metavar="KEY=VALUE",
        help=(
            "set any model setting for this run only, not saved (repeatable): e.g. n_gpu_layers=auto, "
            'device=cpu, stop=["\\n\\n"]; VALUE is read as JSON when it parses, else as text'
        ),
    )
    run.add_argument(
        "--schedule",
        choices=["sequential", "parallel"],
        default="sequential",
        help="one model at a time, for fair timings (default), or all at once",
    )
    add_models_dir(run)
    run.add_argument("--json", action="store_true", help="one JSON object per model per line")
    return add_no_other_apps(run)


def parse_setting(text: str) -> tuple[str, object]:
    """KEY=VALUE as a (setting, value) pair, the value checked against that setting alone: JSON
    when it parses and fits (5, 0.2, true, null, ["a"]), else the text itself (auto, chat, and
    system_prompt=42 as the text "42")."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigurationError(f"{text!r} is not KEY=VALUE: write e.g. --set n_gpu_layers=auto")
    if key not in ModelConfig.model_fields:
        raise ConfigurationError(
            f"{key}: unknown setting (valid ones: {', '.join(ModelConfig.model_fields)})"
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    errors = field_errors({key: value})
    if key in errors and value != raw and key not in field_errors({key: raw}):
        return key, raw
    if key in errors:
        raise ConfigurationError(f"{key}: {errors[key]}")
    return key, value


def _checked_prompt(text: str) -> str:
    if not text.strip():
        raise ConfigurationError("the prompt is empty: type some text to send")
    return check_unicode(text, "prompt")


def _read_prompt(args: argparse.Namespace) -> str:
    """The prompt as given: the --prompt text, or the whole of --prompt-file or standard input
    (for prompts longer than a command line may be)."""
    if args.prompt_file is None and args.prompt != "-":
        return args.prompt
    source = (
        "standard input" if args.prompt_file is None else f"the prompt file {terminal_safe(args.prompt_file)}"
    )
    try:
        data = sys.stdin.buffer.read() if args.prompt_file is None else Path(args.prompt_file).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {source}: {exc.strerror or exc}: give a readable file"
        ) from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is not part of the prompt
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
            "convert it to UTF-8 (for example with iconv) and try again"
        ) from None
    if not text.strip():
        raise ConfigurationError(f"the prompt is empty ({source} holds no text): give some text to send")
    return text


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine
    from llm_compare.services.store.run_store import RunRecord, RunStore, new_comparison_id

    args.prompt = _read_prompt(args)  # before any model loads: a bad file is bad usage
    # No screen to share here: as many models as the user names (run within the memory budget).
    manager = ModelManager(
        models_dirs(args),
        max_models=len(args.model),
        app_folders=other_app_folders(args),
        api_key_env=args.api_key_env,
    )
    # A model that cannot be used (a truncated file, say) fails alone, with its reason; the others run.
    models = manager.select_models(args.model, usable_only=False)
    usable = [m for m in models if m.usable]
    overrides = {k: getattr(args, k) for k in ("max_tokens", "temperature", "top_p", "top_k", "seed", "mode")}
    overrides = {k: v for k, v in overrides.items() if v is not None} | dict(args.settings)
    saved = ConfigManager().load_many(models)
    for warning in saved.warnings:  # a bad saved setting costs only itself, and says so
        print(f"warning: {terminal_safe(warning)}", file=sys.stderr)
    configs = {m.id: saved.configs[m.id].updated(**overrides) for m in models}
    engine = InferenceEngine(max_models=max(1, len(usable)))
    by_id = {m.id: m for m in models}
    events = iter(())
    if usable:  # engine.run checks its input at once: bad usage stops here, before anything is printed
        events = engine.run(args.prompt, usable, configs, schedule=args.schedule, system_prompt=args.system)
    never_ran = [
        InferenceEvent(m.id, "done", result=InferenceResult.never_ran(m.id, m.unusable_reason))
        for m in models
        if not m.usable
    ]
    # Ctrl-C or SIGTERM cancels the run: workers stop, partial answers are printed and kept,
    # and the exit code says the run was interrupted. A second Ctrl-C interrupts at once.
    interrupted_by = stop_on_interrupt(engine.cancel)
    printer = (JsonPrinter if args.json else TextPrinter)(by_id, streaming=args.schedule == "sequential")
    store, comparison_id = RunStore(), new_comparison_id()

    def show(event: InferenceEvent) -> bool:
        failed = printer.show(event)  # the answer first: a store that fails must not take it away
        if event.kind == "done":  # every run is kept, failed and cancelled ones too
            keep(
                store,
                RunRecord.from_result(
                    comparison_id=comparison_id,
                    prompt=args.prompt,
                    system_prompt=args.system,
                    schedule=args.schedule,
                    model=by_id[event.model_id],
                    config=configs[event.model_id],
                    result=event.result,
                ),
            )
        return failed

    failed = False
    try:
        for event in itertools.chain(never_ran, events):
            failed |= show(event)
    finally:
        engine.shutdown()
    if interrupted_by:
        return EXIT_INTERRUPTED
    return EXIT_MODEL_FAILED if failed else EXIT_OK


def keep(store, record) -> None:
    """Save `record`; a failed save is a warning on stderr, never a failed run. When even the
    pending file cannot be written, the record itself goes to stderr, one JSON line."""
    from llm_compare.services.store.run_store import RunNotKeptError

    name = record.model["name"]
    try:
        note = store.save_or_keep(record)
    except RunNotKeptError as exc:
        note = f"{exc}; its record follows on stderr as one JSON line"
        print(terminal_safe(f"warning: the run of {name} was {note}"), file=sys.stderr, flush=True)
        print(record.to_json(), file=sys.stderr, flush=True)  # JSON: nothing a terminal acts on
        return
    if note:  # names and paths escaped, as in the text mode
        print(terminal_safe(f"warning: the run of {name} was {note}"), file=sys.stderr, flush=True)


class JsonPrinter:
    def __init__(self, models: dict[str, ModelInfo], streaming: bool):
        self.models = models

    def show(self, event: InferenceEvent) -> bool:
        """Print the event; return True when it reports a failed model."""
        if event.kind != "done":
            return False
        result = event.result
        line = {
            "model": self.models[event.model_id].to_dict(),
            "text": result.text,
            "finish_reason": result.finish_reason.value,
            "error": result.error,
            # Each setting that could not take effect, one line naming it (as the text output's notes).
            "warnings": [f"{name}: {why}" for name, why in result.ignored_settings.items()],
            "device": result.device,
            "stats": result.stats.to_dict(),
        }
        print(json.dumps(line), flush=True)
        return result.finish_reason == FinishReason.ERROR


class TextPrinter:
    """Streams text as it comes when one model generates at a time; else prints each answer whole.
    Names, reasons and answers come from files and models: what a terminal would act on (ESC
    sequences, carriage returns) is shown escaped. An answer keeps its newlines and tabs."""

    def __init__(self, models: dict[str, ModelInfo], streaming: bool):
        self.models = models
        self.streaming = streaming
        self.started: set[str] = set()
        self.streaming_now: str | None = None  # the model whose answer is being streamed
        # After Stop, the models that never started report before the one still streaming:
        # their blocks wait until its block is closed, so nothing is glued to its text.
        self.held: list[InferenceEvent] = []

    def show(self, event: InferenceEvent) -> bool:
        model = self.models[event.model_id]
        if event.kind == "text" and self.streaming:
            self._header(model)
            self.streaming_now = model.id
            print(terminal_safe(event.text, keep="\n\t"), end="", flush=True)
        elif event.kind == "loading":
            print(f"loading {terminal_safe(model.name)} …", file=sys.stderr, flush=True)
        elif event.kind == "stopping":
            print(f"\nstopping {terminal_safe(model.name)} …", file=sys.stderr, flush=True)
        elif event.kind == "done":
            if self.streaming_now not in (None, model.id):
                self.held.append(event)
            else:
                self._done(event)
                self.streaming_now = None
                for held in self.held:
                    self._done(held)
                self.held = []
            return event.result.finish_reason == FinishReason.ERROR
        return False

    def _done(self, event: InferenceEvent) -> None:
        model, result = self.models[event.model_id], event.result
        if not self.streaming or model.id not in self.started:
            self._header(model)
            print(terminal_safe(result.text, keep="\n\t"), end="")
        print()  # the answer's block always ends its line
        if result.error:
            print(f"error: {terminal_safe(result.error)}")
        for name, why in result.ignored_settings.items():
            print(f"note: {terminal_safe(name)} is ignored here ({terminal_safe(why)})")
        print(f"[{stats_line(result.stats, result.device)}]\n", flush=True)

    def _header(self, model: ModelInfo) -> None:
        if model.id not in self.started:
            self.started.add(model.id)
            print(f"── {terminal_safe(model.name)} ({model.type.value}) ──", flush=True)
