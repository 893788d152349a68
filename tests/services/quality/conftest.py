"""Scoring fixtures: a text every machine has, and an engine that is shut down after each test."""

import sysconfig
from pathlib import Path

import pytest

from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.quality.texts import ScoringText


@pytest.fixture(scope="session")
def ascii_text() -> ScoringText:
    """About 1,000 tokens of Python source for the tiny tokenizer: 15 chunks of 64."""
    text = (Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py").read_text()[:3500]
    assert text.isascii()  # so that a span's bytes can be counted by decoding it alone
    return ScoringText("decoder.py", text)


@pytest.fixture
def engine():
    engine = InferenceEngine()
    yield engine
    engine.shutdown()
