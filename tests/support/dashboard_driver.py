"""Start the dashboard headless on 127.0.0.1 and drive it in Debian's Chromium through Playwright,
the way a person would: select models, run a prompt, wait for the answers, download the CSV.
Or speak Streamlit's own WebSocket protocol to it, with any Host header a client could send."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from llm_compare.services.discovery.other_apps import NO_OTHER_APPS_ENV

APP = Path(__file__).resolve().parents[2] / "app.py"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out of this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dashboard_server(
    models_dir: Path, home: Path, port: int | None = None, timeout_s: float = 60
) -> Iterator[str]:
    """Run `streamlit run app.py` on 127.0.0.1; yield its URL; stop it (by its own PID) after."""
    port = port or free_port()
    # Only the models of `models_dir`: never the Ollama or LM Studio models of whoever runs it.
    env = {
        **os.environ,
        "LLM_COMPARE_MODELS_DIR": str(models_dir),
        "LLM_COMPARE_HOME": str(home),
        NO_OTHER_APPS_ENV: "1",
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    server = subprocess.Popen(
        command, cwd=APP.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, timeout_s)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_healthy(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the dashboard exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the dashboard did not answer at {url} within {timeout_s:.0f} s")


@contextmanager
def browser_page(width: int = 1440, height: int = 960, resolve_to_loopback: tuple[str, ...] = ()):
    """A Playwright page in headless Chromium, with downloads allowed. Names in
    `resolve_to_loopback` resolve to 127.0.0.1, as after a DNS rebinding."""
    with browser_pages(1, width, height, resolve_to_loopback) as [page]:
        yield page


@contextmanager
def browser_pages(
    count: int, width: int = 1440, height: int = 960, resolve_to_loopback: tuple[str, ...] = ()
):
    """`count` pages in one headless Chromium, each in a window of its own (so none is a
    background tab, whose timers the browser slows down): a dashboard session each."""
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_ARGS)
    if resolve_to_loopback:
        args.append(
            "--host-resolver-rules=" + ", ".join(f"MAP {name} 127.0.0.1" for name in resolve_to_loopback)
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield [
                browser.new_context(
                    viewport={"width": width, "height": height}, accept_downloads=True
                ).new_page()
                for _ in range(count)
            ]
        finally:
            browser.close()


SELECTED = re.compile(r"SELECTED FOR COMPARISON · (\d+)/")  # the sidebar's caption


def selected_count(page, timeout_s: float = 60) -> int:
    """How many models the sidebar says are selected (once the page has drawn it)."""
    caption = page.get_by_text(SELECTED).first
    caption.wait_for(timeout=timeout_s * 1000)
    return int(SELECTED.search(caption.inner_text()).group(1))


# The Models table (st.dataframe) is drawn on a canvas: its rows are 35 px high under a 35 px
# header, and a row's selection box sits in the row-marker column at its left edge. The canvas
# holds a hidden accessible copy of the table, which says which row shows which model.
TABLE_ROW_PX = 35
ROW_MARKER_X_PX = 20


def model_name_cell(page, name: str | re.Pattern):
    """The Models table's (hidden, accessible) Name cell that reads `name`, or matches it. Wait
    for it with `.first.wait_for(state="attached")`; read it with `.text_content()`."""
    pattern = name if isinstance(name, re.Pattern) else re.compile(f"^{re.escape(name)}$")
    return page.locator('[data-testid="data-grid-canvas"] td[aria-colindex="1"]').filter(has_text=pattern)


def wait_for_model_row(page, name: str | re.Pattern, timeout_s: float = 60):
    """The Models table's Name cell of `name` once it is there (see model_name_cell). The grid's
    hidden accessible cells can lag its redraw (seen in loaded CI runs, never alone): if the row
    has not come halfway through `timeout_s`, the page is reloaded once, which draws them anew."""
    cell = model_name_cell(page, name).first
    try:
        cell.wait_for(state="attached", timeout=timeout_s * 500)
    except PlaywrightTimeoutError:
        page.reload()
        cell.wait_for(state="attached", timeout=timeout_s * 500)
    return cell


def table_row(page, name: str, timeout_s: float = 60) -> int:
    """The row (0 first, as shown) of the Models table that lists the model `name`."""
    cell = model_name_cell(page, name)
    cell.first.wait_for(state="attached", timeout=timeout_s * 1000)
    return int(cell.first.locator("xpath=..").get_attribute("aria-rowindex")) - 2  # 1: the header


def click_table_row(page, name: str, timeout_s: float = 60) -> None:
    """Click the selection box of the Models table's row of `name`, as a person would."""
    wait_until_idle(page, timeout_s)  # not on a table that the running script is about to replace
    canvas = page.locator('[data-testid="data-grid-canvas"]').first
    canvas.scroll_into_view_if_needed()
    row = table_row(page, name, timeout_s)
    box = canvas.bounding_box()  # the grid's scroller lies over the canvas and takes the clicks
    page.mouse.click(box["x"] + ROW_MARKER_X_PX, box["y"] + TABLE_ROW_PX * (row + 1) + TABLE_ROW_PX // 2)


def select_models(page, url: str, names: list[str], timeout_s: float = 60) -> None:
    """Open the Models page and tick the rows of `names` in its table (those not ticked yet)."""
    page.goto(url)
    for name in names:
        count = selected_count(page, timeout_s)
        if name in sidebar_selection(page):
            continue
        click_table_row(page, name, timeout_s)
        # The rerun the click starts has drawn the sidebar with one more: the next click lands on
        # the table it drew, not on one the rerun is about to replace.
        page.get_by_text(f"SELECTED FOR COMPARISON · {count + 1}/").wait_for(timeout=timeout_s * 1000)


def sidebar_selection(page, timeout_s: float = 60) -> list[str]:
    """The model names the sidebar lists as selected (each in bold, before its backend badge)."""
    return page.locator(
        '[data-testid="stSidebar"] [data-testid="stMarkdownContainer"] strong'
    ).all_inner_texts()


def wait_for_sidebar_selection(page, names: list[str], timeout_s: float = 60) -> None:
    """Until the sidebar lists exactly `names` as selected (a click's rerun may be followed by
    another, and the lines of the run before stay on screen until a run is over)."""
    deadline = time.monotonic() + timeout_s
    while (shown := sidebar_selection(page, timeout_s)) != names:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sidebar lists {shown}, not {names}, after {timeout_s:.0f} s")
        page.wait_for_timeout(250)


def wait_until_idle(page, timeout_s: float = 60) -> None:
    """Until no script run is going on or asked for: Streamlit marks its root element with the
    state of the session's script run."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=timeout_s * 1000
    )


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    page.wait_for_load_state("networkidle")


def send_prompt(page, prompt: str) -> None:
    """Type the prompt and press Run."""
    box = page.get_by_label("Prompt", exact=True)
    box.fill(prompt)
    box.press("Control+Enter")  # commit the text before pressing Run
    page.get_by_role("button", name="Run").click()


def run_prompt(page, prompt: str, models: int, timeout_s: float = 180) -> None:
    """Type the prompt, press Run, and wait until every model's stats line is shown."""
    send_prompt(page, prompt)
    stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode")
    deadline = time.monotonic() + timeout_s
    while stats.count() < models:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {stats.count()} of {models} models finished within {timeout_s:.0f} s")
        page.wait_for_timeout(250)
    run_button = page.get_by_role("button", name="Run")
    while not run_button.is_enabled():  # enabled again once the run is over
        if time.monotonic() > deadline:
            raise TimeoutError("the Run button did not come back after the answers")
        page.wait_for_timeout(250)


# A download is served by the dashboard after a rerun: on 2 cores under load, 30 s was seen to be too
# little (a fresh-clone run beside a demo build, load average 6).
DOWNLOAD_TIMEOUT_MS = 120_000


def click_to_download(page, button, tries: int = 3):
    """The download a click on `button` gives. Clicked again when none came within a third of
    DOWNLOAD_TIMEOUT_MS: a click that lands while Streamlit replaces the button (a rerun) is lost,
    as it would be for a person, who clicks again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        try:
            with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS / tries) as download:
                button.click()
            return download.value
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def download_csv(page, to: Path) -> Path:
    open_page(page, "Results")
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Download CSV").click()
    download.value.save_as(to)
    return to


def session_messages(url: str, host: str, page: str = "", timeout_s: float = 60) -> list:
    """Open a session on the dashboard at `url` as a browser would, but saying `Host: host`
    (what a DNS-rebinding page makes a browser send), run `page` (its URL path name; "" for the
    default page), and return every ForwardMsg the server sent until the run finished (through
    any reruns the app asks for)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    server = urlparse(url)
    sock = socket.create_connection((server.hostname, server.port), timeout=timeout_s)
    messages = []
    # The socket goes to the real server; the URL only gives the handshake its Host header.
    with connect(
        f"ws://{host}/_stcore/stream", sock=sock, subprotocols=["streamlit"], open_timeout=timeout_s
    ) as ws:
        rerun = BackMsg()
        rerun.rerun_script.CopyFrom(ClientState(query_string="", page_name=page))
        ws.send(rerun.SerializeToString())
        deadline = time.monotonic() + timeout_s
        while True:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            messages.append(message)
            if (
                message.WhichOneof("type") == "script_finished"
                and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
            ):
                return messages


def drawn_elements(messages: list) -> list:
    """The elements (Element protos) a session's messages drew, in order."""
    return [
        m.delta.new_element
        for m in messages
        if m.WhichOneof("type") == "delta" and m.delta.HasField("new_element")
    ]
