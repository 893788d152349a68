"""`llm-compare score` as a user runs it: a real process, real models, the files it writes."""

import csv
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from llm_compare.core.scores import DIVERGENCE_FIGURES, LIKELIHOOD_FIGURES


def score(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "llm_compare.cli", "score", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_score_prints_the_table_and_writes_json_and_csv(tiny_dir, tmp_path):
    text = tmp_path / "decoder.py"
    text.write_text((Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py").read_text()[:3500])
    out_json, out_csv = tmp_path / "scores.json", tmp_path / "scores.csv"
    result = score(
        "--models-dir",
        str(tiny_dir),
        "--model",
        "tiny-llama-f32",
        "--model",
        "tiny-llama-q8_0",
        "--reference",
        "tiny-llama",
        "--text",
        str(text),
        "--ctx",
        "64",
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["model", "backend", "bits/byte", "↓", "ppl", "↓"]  # lower is better
    assert [line.split()[0] for line in lines[1:4]] == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]
    assert "- ppl only comparable within one tokenizer; bits per byte across any" in lines
    records = json.loads(out_json.read_text())
    assert [r["model_name"] for r in records] == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]
    for record in records:
        assert record["status"] == "scored" and record["text_name"] == "decoder.py" and record["n_ctx"] == 64
        for figure in LIKELIHOOD_FIGURES:
            assert record[figure] > 0 and record[f"{figure}_se"] > 0
    for record in records[1:]:
        assert all(record[figure] is not None for figure in DIVERGENCE_FIGURES)
    assert records[0]["kl_mean"] is None  # the reference is not measured against itself
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["model_name"] for r in rows] == [r["model_name"] for r in records]
    assert float(rows[2]["kl_mean"]) == records[2]["kl_mean"]


def test_score_refuses_a_text_that_is_not_utf8_in_one_line(tiny_dir, tmp_path):
    text = tmp_path / "latin1.txt"
    text.write_bytes("caf\xe9".encode("latin-1"))
    result = score("--models-dir", str(tiny_dir), "--model", "tiny-llama-f32", "--text", str(text))
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: latin1.txt is not UTF-8 text (byte 0xe9 at offset 3): convert it to UTF-8 and try again\n"
    )
    assert result.stdout == ""


def test_score_with_a_text_too_short_fails_that_model_with_its_reason(tiny_dir, tmp_path):
    text = tmp_path / "short.txt"
    text.write_text("x = 1\n")
    result = score(
        "--models-dir", str(tiny_dir), "--model", "tiny-llama-f32", "--text", str(text), "--ctx", "64"
    )
    assert result.returncode == 1
    assert "needs at least 128 (2 chunks): give a longer text or a smaller context" in result.stdout
