"""The documentation agrees with the code: the CLI reference is what --help prints, every doc the
repository cites exists, every relative link resolves, and the architecture names every package."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Folders that hold no source of ours: tools' caches, virtual environments, build outputs.
SKIPPED_DIRS = {"__pycache__", "node_modules", "build", "dist", "models"}
CITED_DOC = re.compile(r"\bdocs/[\w./-]+?\.md\b")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _load_cli_docs():
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _repo_files(*suffixes: str) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and path.suffix in suffixes:
            found.append(path)
    return found


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for a document's headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated heading numbered -1, -2, …"""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCED_BLOCK.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def test_cli_reference_matches_help(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # restored afterwards; the generator sets the same
    expected = _load_cli_docs().cli_reference()
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is out of date: run python scripts/cli_docs.py"


def test_every_cited_doc_exists():
    missing = []
    for path in _repo_files(".py", ".md", ".sh"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in sorted(set(CITED_DOC.findall(text))):
            if not (ROOT / cited).is_file():
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    for path in _markdown_files():
        text = FENCED_BLOCK.sub("", path.read_text(encoding="utf-8"))
        for link in MARKDOWN_LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE):  # http:, mailto:, …
                continue
            target, _, anchor = link.partition("#")
            file = (path.parent / target).resolve() if target else path
            where = f"{path.relative_to(ROOT)} links {link}"
            if not file.is_file():
                missing.append(f"{where}: no such file")
            elif anchor and file.suffix == ".md":
                if anchor not in heading_anchors(file.read_text(encoding="utf-8")):
                    missing.append(f"{where}: no heading with that anchor")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("## llm-compare serve", "llm-compare-serve"),
        ("## GGUF against llama.cpp itself", "gguf-against-llamacpp-itself"),
    ],
)
def test_heading_anchors_follow_github(heading, anchor):
    assert anchor in heading_anchors(heading)


def test_architecture_names_every_package():
    architecture = (DOCS / "architecture.md").read_text(encoding="utf-8")
    unnamed = []
    for init in sorted((ROOT / "llm_compare").rglob("__init__.py")):
        package = init.parent.relative_to(ROOT).as_posix()
        forms = (package, package.replace("/", "."))
        if not any(re.search(re.escape(form) + r"(?![\w])", architecture) for form in forms):
            unnamed.append(package)
    assert not unnamed, f"docs/architecture.md does not name: {', '.join(unnamed)}"


def test_every_run_figure_is_defined_in_the_metrics_page():
    from llm_compare.core.results import STAT_HELP

    metrics = (DOCS / "metrics.md").read_text(encoding="utf-8")
    defined = set(re.findall(r"^\| `(\w+)` \|", metrics, re.MULTILINE))
    assert not set(STAT_HELP) - defined, "docs/metrics.md has no row for these figures"
