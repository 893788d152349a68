"""llama.cpp's vocabulary-only GGUF files and tokenizer test vectors, fetched once through pip.

They ship only inside llama-cpp-python's source distribution (`vendor/llama.cpp/models/`), which
pip can download from PyPI; they are extracted into a cache folder shared by every checkout.
Run `python -m llm_compare.modelbuild.vocab_files` to fetch them ahead of the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

from llm_compare.system.paths import cache_home

_MEMBERS = "/vendor/llama.cpp/models/ggml-vocab-"
# llama.cpp's test-tokenizer-0 separates the test strings of a `.inp` file with this line.
_TEST_SEPARATOR = "\n__ggml_vocab_test__\n"
_COMPLETE = ".complete"


class VocabFilesUnavailable(RuntimeError):
    """The vocabulary files could not be fetched (no PyPI, no pip, or a changed archive)."""


def vocab_cache_dir(version: str | None = None) -> Path:
    """Where the files of llama-cpp-python `version` (default: the installed one) are kept."""
    version = version or installed_version("llama-cpp-python")
    return cache_home() / f"llama-cpp-python-{version}-vocab"


def ensure_vocab_files(version: str | None = None) -> Path:
    """The folder holding `ggml-vocab-*.gguf` and their `.inp`/`.out` vectors, fetched if missing."""
    version = version or installed_version("llama-cpp-python")
    target = vocab_cache_dir(version)
    if (target / _COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        sdist = _download_sdist(version, Path(tmp))
        staged = Path(tmp) / "vocab"
        _extract_vocab_files(sdist, staged)
        (staged / _COMPLETE).write_text(f"llama-cpp-python {version}\n")
        shutil.rmtree(target, ignore_errors=True)  # a partial copy from an interrupted run
        try:
            staged.rename(target)
        except OSError:  # another process finished first
            if not (target / _COMPLETE).exists():
                raise
    return target


def source_distribution(version: str | None = None) -> Path:
    """llama-cpp-python `version`'s source archive (it carries llama.cpp's sources), fetched once
    into the shared cache; benchmarks build llama.cpp's own tools from it."""
    version = version or installed_version("llama-cpp-python")
    folder = vocab_cache_dir(version).with_name(f"llama-cpp-python-{version}-sdist")
    archives = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if archives:
        return archives[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staged = Path(tmp) / "sdist"
        staged.mkdir()
        _download_sdist(version, staged)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            staged.rename(folder)
        except OSError:  # another process finished first
            pass
    return sorted(folder.glob("llama_cpp_python-*.tar.gz"))[0]


def vocab_file(name: str) -> Path:
    """The vocabulary file of one tokenizer family, e.g. `llama-spm` or `qwen2`."""
    path = ensure_vocab_files() / f"ggml-vocab-{name}.gguf"
    if not path.exists():
        raise VocabFilesUnavailable(f"llama.cpp ships no vocabulary named {name!r}")
    return path


def tokenizer_test_vectors(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's expected token ids (no BOS, special tokens not parsed) for its test strings."""
    vocab = vocab_file(name)
    texts = Path(f"{vocab}.inp").read_text(encoding="utf-8").split(_TEST_SEPARATOR)[:-1]
    lines = Path(f"{vocab}.out").read_text(encoding="utf-8").split("\n")[: len(texts)]
    if len(lines) != len(texts):
        raise VocabFilesUnavailable(
            f"{vocab.name}: {len(texts)} test strings but {len(lines)} expected outputs"
        )
    return [(text, [int(i) for i in line.split()]) for text, line in zip(texts, lines)]


def _download_sdist(version: str, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(into),
        f"llama-cpp-python=={version}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(into.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or not archives:
        reason = (done.stderr.strip().splitlines() or ["no archive"])[-1]
        raise VocabFilesUnavailable(
            f"could not download llama-cpp-python=={version}'s source from PyPI ({reason}): "
            f"check the connection to PyPI, or run `{' '.join(command[2:])}` by hand"
        )
    return archives[0]


def _extract_vocab_files(sdist: Path, into: Path) -> None:
    into.mkdir()
    with tarfile.open(sdist) as archive:
        for member in archive:
            if member.isfile() and _MEMBERS in member.name:
                # Flattened to the base name: nothing in the archive chooses where a file goes.
                with archive.extractfile(member) as source, open(into / Path(member.name).name, "wb") as out:
                    shutil.copyfileobj(source, out)
    if not any(into.glob("ggml-vocab-*.gguf")):
        raise VocabFilesUnavailable(f"{sdist.name} holds no vendor/llama.cpp/models/ggml-vocab-*.gguf files")


if __name__ == "__main__":
    print(ensure_vocab_files())
