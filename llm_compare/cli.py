"""The command-line interface: the same services as the dashboard, for scripts and CI."""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

from llm_compare import bench_cli, frontier_cli, score_cli
from llm_compare.cli_signals import stop_on_interrupt
from llm_compare.core.errors import (
    EXIT_INTERRUPTED,
    EXIT_MODEL_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigurationError,
    LLMCompareError,
)
from llm_compare.core.formatting import human_bytes, human_count, stats_line
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult
from llm_compare.core.text import check_unicode, terminal_safe
from llm_compare.server import settings as server_defaults
from llm_compare.services.discovery.model_dirs import MODELS_DIR_HELP, model_dirs

APP_PATH = Path(__file__).resolve().parent.parent / "app.py"
# On SIGTERM every process of ours is gone within 5 s: service managers send SIGKILL soon after.
STOP_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def default_models_dirs() -> list[str]:
    """The directories every command searches unless told others: as the dashboard's (model_dirs)."""
    return model_dirs()


def model_stores(args: argparse.Namespace) -> list:
    """Other apps' model stores to search besides the directories (Ollama, LM Studio, the Hugging
    Face cache): those present and not switched off on the Models page; none with --no-stores."""
    from llm_compare.services.discovery.stores import enabled_stores

    return [] if args.no_stores else enabled_stores()


def add_no_stores(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-stores",
        action="store_true",
        dest="no_stores",
        help="do not search Ollama's, LM Studio's and the Hugging Face cache's models",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-compare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser("scan", help="list the models found in directories")
    scan.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="directories to scan (default: $LLM_COMPARE_MODELS_DIR, else the folders saved on the "
        "dashboard's Models page, else ./models)",
    )
    scan.add_argument("--json", action="store_true", help="print a JSON array")
    add_no_stores(scan)

    run = commands.add_parser("run", help="send one prompt to one or more models")
    run.add_argument("--model", action="append", required=True, metavar="REF", help=bench_cli.MODEL_REF_HELP)
    run.add_argument("--api-key-env", dest="api_key_env", metavar="NAME", help=bench_cli.API_KEY_ENV_HELP)
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompt",
        type=_argument_type(_checked_prompt),
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
        type=_argument_type(lambda text: check_unicode(text, "system prompt")),
        help="system prompt (chat mode)",
    )
    run.add_argument("--max-tokens", type=int, dest="max_tokens")
    run.add_argument("--temperature", type=float)
    run.add_argument("--top-p", type=float, dest="top_p")
    run.add_argument("--top-k", type=int, dest="top_k")
    run.add_argument("--seed", type=int)
    run.add_argument("--mode", choices=["auto", "chat", "raw"])
    run.add_argument("--schedule", choices=["sequential", "parallel"], default="sequential")
    run.add_argument("--models-dir", action="append", dest="models_dirs", metavar="DIR", help=MODELS_DIR_HELP)
    run.add_argument("--json", action="store_true", help="one JSON object per model per line")
    add_no_stores(run)

    demo = commands.add_parser("demo", help="build the small demo models (offline, a few minutes)")
    demo.add_argument("--dir", default="models", help="models directory (default: ./models)")
    demo.add_argument(
        "--size",
        choices=["full", "smoke"],
        default="full",
        help="smoke: seconds, for tests; the models learn little",
    )

    add_no_stores(bench_cli.add_parser(commands))
    add_no_stores(score_cli.add_parser(commands))
    frontier_cli.add_parser(commands)

    serve = commands.add_parser(
        "serve", help="serve local models as an OpenAI-compatible API (/v1/chat/completions, /v1/completions)"
    )
    serve.add_argument(
        "--model",
        action="append",
        dest="model_refs",
        metavar="REF",
        help="model id, name or path to serve; repeat for more (default: every model in the directories)",
    )
    serve.add_argument(
        "--models-dir",
        action="append",
        dest="models_dirs",
        metavar="DIR",
        help=MODELS_DIR_HELP,
    )
    serve.add_argument(
        "--host",
        default=server_defaults.DEFAULT_HOST,
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    serve.add_argument("--port", type=int, default=server_defaults.DEFAULT_PORT)
    serve.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="ask clients for the key held in environment variable NAME (sent as Authorization: Bearer KEY)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=server_defaults.DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="refuse larger requests with 413",
    )
    serve.add_argument(
        "--queue-size",
        type=int,
        default=server_defaults.DEFAULT_QUEUE_SIZE,
        metavar="N",
        help="requests that may wait for a busy model; more get 429 (default: %(default)s)",
    )
    # start_serving's: exit when the process that started this one is gone (a user's shell never passes it)
    serve.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)

    ui = commands.add_parser("ui", help="serve the dashboard and open it in the browser")
    ui.add_argument("--models-dir", action="append", dest="models_dirs", metavar="DIR", help=MODELS_DIR_HELP)
    ui.add_argument("--port", type=int, default=8501)
    ui.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    ui.add_argument(
        "--build-demo",
        action="store_true",
        help="if the (first) models directory has no models, build the demo models in the background",
    )
    add_no_stores(ui)
    return parser


def _argument_type(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse `type` from a check that raises ConfigurationError: its message becomes the
    usage error. Checked here, not only by the engine: a run whose models all fail to start is
    still bad usage, and text that is not UTF-8 must not wait for the models to load."""

    def convert(value: str) -> str:
        try:
            return check(value)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LLMCompareError as exc:
        print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def cmd_scan(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.model_manager import ModelManager

    models = ModelManager(args.dirs or default_models_dirs(), stores=model_stores(args)).scan()
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return EXIT_OK
    if not models:
        print("no models found (put GGUF files or Hugging Face folders there, or run: llm-compare demo)")
    for model in models:
        meta = model.metadata
        detail = model.error or " · ".join(
            str(v)
            for v in (
                meta.get("architecture"),
                meta.get("quantization"),
                human_bytes(model.size_bytes),
                meta.get("store"),
            )
            if v
        )
        print(
            f"{terminal_safe(model.id):40} {model.type.value:8} {terminal_safe(model.name)}: {terminal_safe(detail)}"
        )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine
    from llm_compare.services.store.run_store import RunRecord, RunStore, new_comparison_id

    args.prompt = _read_prompt(args)  # before any model loads: a bad file is bad usage
    # No screen to share here: as many models as the user names (run within the memory budget).
    manager = ModelManager(
        args.models_dirs or default_models_dirs(),
        max_models=len(args.model),
        stores=model_stores(args),
        api_key_env=args.api_key_env,
    )
    # A model that cannot be used (a truncated file, say) fails alone, with its reason; the others run.
    models = manager.select_models(args.model, usable_only=False)
    usable = [m for m in models if m.usable]
    overrides = {k: getattr(args, k) for k in ("max_tokens", "temperature", "top_p", "top_k", "seed", "mode")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
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
        print(f"[{stats_line(result.stats)}]\n", flush=True)

    def _header(self, model: ModelInfo) -> None:
        if model.id not in self.started:
            self.started.add(model.id)
            print(f"── {terminal_safe(model.name)} ({model.type.value}) ──", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.demo_build import BuildProgress, build_lock

    # Stopped like Ctrl-C when the dashboard that started it stops: the status file says "interrupted".
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The lock and the first status come before torch is imported: the dashboard shows the build at once.
    with build_lock(), BuildProgress(Path(args.dir).resolve()) as progress:
        from llm_compare.modelbuild.demo import RECIPES, build_demo

        progress.expect_models(len(RECIPES[args.size].models))
        report = build_demo(
            Path(args.dir), progress=progress.progress, size=args.size, model_ready=progress.model_ready
        )
    for model in report.models:
        print(
            f"{model.name}: {human_count(model.parameters)} parameters, "
            f"{model.heldout_bits_per_byte:.2f} bits per byte on held-out text, trained in {model.train_seconds:.0f} s"
        )
    print(f"built in {report.total_seconds:.0f} s into {report.demo_dir} (details: demo-report.json there)")
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery import demo_build
    from llm_compare.services.serving.process import wait_until_healthy

    env = dict(os.environ)
    if args.no_stores:
        from llm_compare.services.discovery.stores import NO_STORES_ENV

        env[NO_STORES_ENV] = "1"
    dirs = args.models_dirs or (default_models_dirs() if "LLM_COMPARE_MODELS_DIR" in env else None)
    if dirs:  # absolute: the dashboard runs from the app's folder
        env["LLM_COMPARE_MODELS_DIR"] = os.pathsep.join(str(Path(d).resolve()) for d in dirs)
    url = f"http://127.0.0.1:{args.port}"
    # Always headless: otherwise Streamlit's first start asks for an e-mail address on the terminal
    # and waits (forever, without one). The browser tab is ours to open, once the server answers.
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    # Before any child starts: a SIGTERM at any moment from here on stops the children too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    children: list[subprocess.Popen] = []
    try:
        # From the app's folder, so that Streamlit reads its .streamlit/config.toml.
        # preexec_fn is safe here: this process runs no other thread.
        server = subprocess.Popen(
            command,
            env=env,
            cwd=APP_PATH.parent,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509
        )
        children.append(server)
        models_dir = Path((dirs or default_models_dirs())[0]).resolve()
        if args.build_demo and demo_build.demo_needed(models_dir):
            print(
                f"building the demo models into {models_dir} in the background; "
                "each appears on the Models page as soon as it is ready",
                file=sys.stderr,
                flush=True,
            )
            children.append(demo_build.start_background_build(models_dir))
        if wait_until_healthy(server, f"{url}/_stcore/health"):
            print(f"llm-compare is running at {url}", flush=True)
            if not args.no_browser and _has_display():
                webbrowser.open(url)
        return server.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stopping short
        _stop_all(children)


def _has_display() -> bool:
    """Whether a browser tab can be shown: on Linux (and BSD) only with an X or Wayland display."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn for a child that must not outlive this process, however this process ends
    (a service manager's SIGKILL too): on Linux the kernel then sends the child SIGTERM."""
    if not sys.platform.startswith("linux"):
        return None

    def arrange() -> None:  # runs in the child, between fork and exec
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the request was in place
            os._exit(1)

    return arrange


def _stop_all(processes: list[subprocess.Popen | None]) -> None:
    """Stop the processes together: SIGTERM to all, then SIGKILL to any still running after
    STOP_GRACE_S (one after another, the waits would add up past a service manager's patience)."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cmd_serve(args: argparse.Namespace) -> int:
    from llm_compare.server.app import serve
    from llm_compare.server.parent_watch import exit_when_parent_dies
    from llm_compare.server.settings import ServeSettings, served_models

    settings = ServeSettings(
        host=args.host,
        port=args.port,
        api_key_env=args.api_key_env,
        max_body_bytes=args.max_body_bytes,
        queue_size=args.queue_size,
        models_dirs=args.models_dirs or [],
        model_refs=args.model_refs or [],
    )
    settings.api_key()  # a key asked for but not set is bad usage, before any model is scanned
    if args.exit_with_parent:
        exit_when_parent_dies(args.exit_with_parent)
    models, warnings = served_models(settings, default_models_dirs())
    for warning in warnings:
        print(f"warning: {terminal_safe(warning)}", file=sys.stderr, flush=True)
    serve(settings, models)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    return bench_cli.cmd_bench(args, args.models_dirs or default_models_dirs(), model_stores(args))


def cmd_score(args: argparse.Namespace) -> int:
    return score_cli.cmd_score(args, args.models_dirs or default_models_dirs(), model_stores(args))


COMMANDS = {
    "scan": cmd_scan,
    "run": cmd_run,
    "bench": cmd_bench,
    "score": cmd_score,
    "demo": cmd_demo,
    "ui": cmd_ui,
    "serve": cmd_serve,
    "frontier": frontier_cli.cmd_frontier,
}

if __name__ == "__main__":
    sys.exit(main())
