"""What `run` accepts and what it prints: prompts from files and standard input, text that is
not UTF-8 refused at the edge, and names and answers that cannot drive the terminal."""

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout

import pytest

from llm_compare.cli.run import TextPrinter
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import RunStore

CLI = [sys.executable, "-m", "llm_compare.cli"]
# More than Linux lets one command-line argument hold (MAX_ARG_STRLEN, 128 KiB).
LONGER_THAN_AN_ARGUMENT = 200_000


def cli(*args: str | bytes, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, timeout=180, env=os.environ.copy(), check=False
    )
    done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
    return done


def usage_error(done: subprocess.CompletedProcess) -> str:
    """The one line that says what was wrong, from a run refused as bad usage."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "loading" not in done.stderr  # no model was started
    [message] = [line for line in done.stderr.splitlines() if "error: " in line]
    return message


@pytest.mark.parametrize("flag", ["--prompt", "--system"])
def test_argv_bytes_that_are_not_utf8_are_bad_usage_before_any_model_loads(tiny_dir, flag):
    """On Linux such bytes reach Python as lone surrogates; they used to reach the backends and
    the store, and one stored run broke the Results page for every run."""
    text = b"caf\xe9 au lait"  # Latin-1, as a terminal set to it sends
    args = ["--prompt", "x", "--system", "be brief"]
    args[args.index(flag) + 1] = text
    done = cli("run", "--model", str(tiny_dir / "tiny-llama-f32.gguf"), *args)
    what = "prompt" if flag == "--prompt" else "system prompt"
    assert f"argument {flag}: the {what} is not valid UTF-8 text (byte 0xe9 at character 4)" in usage_error(
        done
    )
    assert RunStore().list() == []


def test_a_prompt_longer_than_a_command_line_argument_comes_in_by_file(tiny_dir, tmp_path):
    prompt = ("def f(x):\n\treturn x  # é\n" * LONGER_THAN_AN_ARGUMENT)[:LONGER_THAN_AN_ARGUMENT]
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(prompt, encoding="utf-8")
    done = cli(
        "run", "--model", str(tiny_dir / "tiny-llama-f32.gguf"), "--prompt-file", str(prompt_file), "--json"
    )
    [line] = map(json.loads, done.stdout.splitlines())
    # It reached the model, whose context is what is too small for it now.
    assert line["error"].startswith("the prompt is ") and "but the context holds" in line["error"]
    [stored] = RunStore().list()
    assert stored.prompt == prompt


def test_a_prompt_from_standard_input_is_sent_exactly(tiny_dir):
    prompt = "import os\n\tx = 'é' \n\n"  # trailing spaces and newlines are part of a raw prompt
    done = cli(
        "run",
        "--model",
        str(tiny_dir / "tiny-llama-f32.gguf"),
        "--prompt",
        "-",
        "--max-tokens",
        "2",
        "--json",
        stdin=b"\xef\xbb\xbf" + prompt.encode(),
    )  # a byte-order mark is not part of it
    assert done.returncode == 0, done.stderr
    [stored] = RunStore().list()
    assert stored.prompt == prompt


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.txt", "cannot read the prompt file {path}: No such file or directory"),
        (lambda d: d, "cannot read the prompt file {path}: Is a directory"),
        (
            lambda d: _write(d / "latin1.txt", b"caf\xe9"),
            "the prompt file {path} is not UTF-8 text (byte 0xe9 at offset 3)",
        ),
        (
            lambda d: _write(d / "blank.txt", b" \n\n"),
            "the prompt is empty (the prompt file {path} holds no text)",
        ),
    ],
    ids=["missing", "directory", "not-utf8", "blank"],
)
def test_a_prompt_file_that_cannot_be_used_is_bad_usage(tiny_dir, tmp_path, make, words):
    path = make(tmp_path)
    done = cli("run", "--model", str(tiny_dir / "tiny-llama-f32.gguf"), "--prompt-file", str(path))
    assert words.format(path=path) in usage_error(done)
    assert RunStore().list() == []


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (
            ["--prompt", "x", "--prompt-file", "p.txt"],
            None,
            "argument --prompt-file: not allowed with argument --prompt",
        ),
        (["--prompt", "-"], b"\xff\xfe", "standard input is not UTF-8 text (byte 0xff at offset 0)"),
        (["--prompt", "-"], b"", "the prompt is empty (standard input holds no text)"),
        ([], None, "one of the arguments --prompt --prompt-file is required"),
    ],
    ids=["both", "stdin-not-utf8", "stdin-empty", "neither"],
)
def test_prompt_sources_are_checked(tiny_dir, args, stdin, words):
    done = cli("run", "--model", str(tiny_dir / "tiny-llama-f32.gguf"), *args, stdin=stdin)
    assert words in usage_error(done)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


HOSTILE_NAME = "\x1b]0;pwned\x07\x1b[31mred\nline\u202egnp"


@pytest.fixture
def hostile_named_model(tiny_dir, tmp_path):
    """A real model whose file name holds a terminal title sequence, a colour, a newline and a
    right-to-left override, as a downloaded file's name can."""
    path = tmp_path / f"{HOSTILE_NAME}.gguf"
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", path)
    return path


def test_text_mode_shows_control_characters_in_names_escaped(hostile_named_model):
    done = cli("run", "--model", str(hostile_named_model), "--prompt", "x", "--max-tokens", "2")
    assert done.returncode == 0, done.stderr
    shown = r"\x1b]0;pwned\x07\x1b[31mred\nline\u202egnp"
    assert f"── {shown} (gguf) ──\n" in done.stdout
    assert f"loading {shown} …" in done.stderr
    for output in (done.stdout, done.stderr):
        assert not {"\x1b", "\x07", "\u202e"} & set(output)


def test_json_mode_keeps_names_exact(hostile_named_model):
    done = cli("run", "--model", str(hostile_named_model), "--prompt", "x", "--max-tokens", "2", "--json")
    [line] = map(json.loads, done.stdout.splitlines())
    assert line["model"]["name"] == HOSTILE_NAME


def test_an_answer_keeps_newlines_and_tabs_but_shows_other_controls_escaped(tiny_dir):
    """A model can write any byte, ESC included: in text mode that must not clear the screen."""
    [model] = ModelManager([tiny_dir]).select_models([str(tiny_dir / "tiny-llama-f32.gguf")])
    answer = "a\tb\nc\x1b[2J\rd\x00"
    result = InferenceResult(
        model.id, answer, FinishReason.STOP, None, InferenceStats(finish_reason=FinishReason.STOP)
    )
    out = io.StringIO()
    with redirect_stdout(out):
        TextPrinter({model.id: model}, streaming=True).show(InferenceEvent(model.id, "text", answer, 3))
    assert out.getvalue().endswith("\na\tb\nc\\x1b[2J\\rd\\x00")
    out = io.StringIO()
    with redirect_stdout(out):
        TextPrinter({model.id: model}, streaming=False).show(InferenceEvent(model.id, "done", result=result))
    assert "\na\tb\nc\\x1b[2J\\rd\\x00\n" in out.getvalue()
