"""`llm-compare ui`: serve the dashboard (Streamlit) on 127.0.0.1 and open it in a browser."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import webbrowser
from pathlib import Path

from llm_compare.cli.common import add_models_dir, add_no_other_apps, default_models_dirs
from llm_compare.system.child_processes import die_with_parent, stop_all

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"


def add_parser(commands) -> argparse.ArgumentParser:
    ui = commands.add_parser("ui", help="serve the dashboard and open it in the browser")
    add_models_dir(ui)
    ui.add_argument("--port", type=int, default=8501, help="port of the dashboard (default: %(default)s)")
    ui.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    ui.add_argument(
        "--build-demo",
        action="store_true",
        help="if the (first) models directory has no models, build the demo models in the background",
    )
    return add_no_other_apps(ui)


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery import demo_build
    from llm_compare.services.served_models.process import wait_until_healthy

    env = dict(os.environ)
    if args.no_other_apps:
        from llm_compare.services.discovery.other_apps import NO_OTHER_APPS_ENV

        env[NO_OTHER_APPS_ENV] = "1"
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
            preexec_fn=die_with_parent(os.getpid()),  # noqa: PLW1509
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
            if args.no_browser or not _has_display():
                why = "--no-browser" if args.no_browser else "no display"
                print(f"no browser tab opened ({why}): open {url} in a browser", flush=True)
            else:
                webbrowser.open(url)
        return server.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stopping short
        stop_all(children)


def _has_display() -> bool:
    """Whether a browser tab can be shown: on Linux (and BSD) only with an X or Wayland display."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
