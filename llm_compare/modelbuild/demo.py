"""Build the demo family offline: small LLaMAs trained on the standard library, as HF folders and GGUF."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import psutil
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from llm_compare.modelbuild.corpus import Document, load_stdlib_documents, split_train_heldout, utf8_bytes
from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf
from llm_compare.modelbuild.llama import LlamaShape, count_parameters, random_llama, save_hf_model
from llm_compare.modelbuild.tokenizer import train_bpe_tokenizer, wrap_for_transformers
from llm_compare.modelbuild.train import TrainSettings, bits_per_byte, encode_documents, train_llama
from llm_compare.services.discovery.demo_build import DEMO_DIR_NAME, REPORT_FILE_NAME

# progress(stage, fraction of the whole build in [0, 1]); stage is a short human-readable label.
ProgressCallback = Callable[[str, float], None]
# model_ready(name): the model's HF folder and both GGUF files are in place, whole.
ModelReadyCallback = Callable[[str], None]
DemoSize = Literal["full", "smoke"]


@dataclass(frozen=True)
class DemoModelSpec:
    shape: LlamaShape
    train: TrainSettings


@dataclass(frozen=True)
class DemoRecipe:
    """Everything that decides the demo's output: same recipe, same machine, same bytes."""

    vocab_size: int
    context_length: int
    corpus_max_bytes: int | None
    heldout_every: int
    eval_max_bytes: int
    models: tuple[DemoModelSpec, ...]


# Step counts were chosen on the 2-core development machine so that the whole build fits a budget of
# 5 minutes (docs/performance.md has the latest timings). Fixed steps rather than a time limit keep
# the build reproducible; on a busy machine it simply takes longer.
# The first of those trains for minutes, so that a first-time user would wait that long for anything
# to try: the starter model, built first, is usable within a minute.
_STARTER = DemoModelSpec(
    LlamaShape(
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        intermediate_size=96,
        vocab_size=2048,
        max_position_embeddings=512,
    ),
    TrainSettings(steps=150, batch_size=8, seq_len=256, learning_rate=6e-3, seed=3),
)
_FULL = DemoRecipe(
    vocab_size=2048,
    context_length=512,
    corpus_max_bytes=None,
    heldout_every=20,
    eval_max_bytes=300_000,
    models=(
        _STARTER,
        DemoModelSpec(
            LlamaShape(
                hidden_size=64,
                num_layers=2,
                num_heads=4,
                intermediate_size=172,
                vocab_size=2048,
                max_position_embeddings=512,
            ),
            TrainSettings(steps=320, batch_size=8, seq_len=512, learning_rate=4e-3, seed=1),
        ),
        DemoModelSpec(
            LlamaShape(
                hidden_size=128,
                num_layers=4,
                num_heads=4,
                intermediate_size=384,
                vocab_size=2048,
                max_position_embeddings=512,
            ),
            TrainSettings(steps=420, batch_size=8, seq_len=512, learning_rate=3e-3, seed=2),
        ),
    ),
)
# Exercises every stage in seconds, for tests; the models learn little. Listed largest first: the
# build itself puts the smallest first.
_SMOKE = DemoRecipe(
    vocab_size=512,
    context_length=128,
    corpus_max_bytes=400_000,
    heldout_every=10,
    eval_max_bytes=20_000,
    models=(
        DemoModelSpec(
            LlamaShape(
                hidden_size=48,
                num_layers=1,
                num_heads=2,
                intermediate_size=96,
                vocab_size=512,
                max_position_embeddings=128,
            ),
            TrainSettings(steps=8, batch_size=4, seq_len=64, warmup_steps=2, seed=2),
        ),
        DemoModelSpec(
            LlamaShape(
                hidden_size=32,
                num_layers=1,
                num_heads=2,
                intermediate_size=64,
                vocab_size=512,
                max_position_embeddings=128,
            ),
            TrainSettings(steps=8, batch_size=4, seq_len=64, warmup_steps=2, seed=1),
        ),
    ),
)
RECIPES: dict[str, DemoRecipe] = {"full": _FULL, "smoke": _SMOKE}


@dataclass(frozen=True)
class DemoModelReport:
    name: str
    parameters: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    context_length: int
    hf_dir: str
    gguf_f32: str
    gguf_q8_0: str
    hf_weights_bytes: int
    gguf_f32_bytes: int
    gguf_q8_0_bytes: int
    train_steps: int
    train_tokens: int
    train_seconds: float
    final_train_loss_nats: float
    heldout_bits_per_byte: float


@dataclass
class DemoReport:
    size: str
    demo_dir: str
    train_text_bytes: int
    heldout_text_bytes: int
    heldout_tokens: int
    tokenizer_vocab_size: int
    total_seconds: float
    models: list[DemoModelReport] = field(default_factory=list)
    complete: bool = False  # False while (or when) the build stopped before its last model

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (what demo-report.json holds)."""
        return asdict(self)


def model_name(parameters: int) -> str:
    """A name that says what the model is: `stdlib-llama-1.4m`, `stdlib-llama-70k`."""
    label = f"{parameters / 1e6:.1f}m" if parameters >= 100_000 else f"{round(parameters / 1e3)}k"
    return f"stdlib-llama-{label}"


def build_demo(
    models_dir: Path,
    progress: ProgressCallback | None = None,
    size: DemoSize = "full",
    model_ready: ModelReadyCallback | None = None,
) -> DemoReport:
    """Train the demo models into `models_dir/demo/`, smallest first, and keep `demo-report.json`
    there up to date after each one.

    Each model is usable as soon as it is written (`model_ready` is called then): its files appear
    whole, never half-written. Models that an interrupted build finished are kept, not trained
    again. "full" takes about 3 minutes on 2 idle CPU cores; "smoke" a few seconds (tests only).
    """
    recipe = RECIPES[size]
    specs = sorted(recipe.models, key=lambda spec: _approx_parameters(spec.shape))
    started = time.perf_counter()
    demo_dir = Path(models_dir) / DEMO_DIR_NAME
    demo_dir.mkdir(parents=True, exist_ok=True)
    finished_before = _finished_models(demo_dir, size)
    report_progress = _StagedProgress(progress, specs)

    report_progress("reading the standard library", 0.0)
    documents = load_stdlib_documents(recipe.corpus_max_bytes)
    train_docs, heldout_docs = split_train_heldout(documents, recipe.heldout_every)
    eval_docs = _first_bytes(heldout_docs, recipe.eval_max_bytes)
    report_progress("training the tokenizer", 0.3)
    tokenizer = train_bpe_tokenizer((d.text for d in train_docs), recipe.vocab_size)
    eos_id = tokenizer.token_to_id("<|endoftext|>")
    report_progress("tokenizing", 0.5)
    train_ids = encode_documents(tokenizer, [d.text for d in train_docs], eos_id)
    # A leading <|endoftext|> gives the first held-out token a context, so every byte is scored.
    eval_ids = np.concatenate([[eos_id], encode_documents(tokenizer, [d.text for d in eval_docs], eos_id)])
    eval_bytes = utf8_bytes(eval_docs)
    wrapped = wrap_for_transformers(tokenizer, recipe.context_length)

    report = DemoReport(
        size=size,
        demo_dir=str(demo_dir),
        train_text_bytes=utf8_bytes(train_docs),
        heldout_text_bytes=eval_bytes,
        heldout_tokens=len(eval_ids) - 1,
        tokenizer_vocab_size=tokenizer.get_vocab_size(),
        total_seconds=0.0,
    )
    for index, spec in enumerate(specs):
        model = random_llama(spec.shape, wrapped, seed=spec.train.seed, embedding_std=None)
        parameters = count_parameters(model)
        name = model_name(parameters)
        if name in finished_before:
            report.models.append(finished_before[name])
            if model_ready is not None:
                model_ready(name)
            report_progress(f"{name} was built before", 1.0, model=index, phase="eval")
            continue
        stage = f"training {name}"
        settings = replace(spec.train, threads=training_threads(spec.train.threads))
        train_result = train_llama(
            model, train_ids, settings, progress=lambda f, s=stage, i=index: report_progress(s, f, model=i)
        )
        report_progress(f"writing {name}", 0.0, model=index, phase="eval")
        hf_dir, gguf_f32, gguf_q8 = _write_model(model, wrapped, demo_dir, name)
        if model_ready is not None:
            model_ready(name)
        report_progress(f"measuring {name}", 0.3, model=index, phase="eval")
        bpb = bits_per_byte(
            model, eval_ids, eval_bytes, seq_len=spec.train.seq_len, threads=spec.train.threads
        )
        report.models.append(
            DemoModelReport(
                name=name,
                parameters=parameters,
                hidden_size=spec.shape.hidden_size,
                num_layers=spec.shape.num_layers,
                vocab_size=spec.shape.vocab_size,
                context_length=spec.shape.max_position_embeddings,
                hf_dir=str(hf_dir),
                gguf_f32=str(gguf_f32),
                gguf_q8_0=str(gguf_q8),
                hf_weights_bytes=sum(p.stat().st_size for p in hf_dir.glob("*.safetensors")),
                gguf_f32_bytes=gguf_f32.stat().st_size,
                gguf_q8_0_bytes=gguf_q8.stat().st_size,
                train_steps=train_result.steps,
                train_tokens=train_result.steps * spec.train.batch_size * spec.train.seq_len,
                train_seconds=round(train_result.seconds, 1),
                final_train_loss_nats=round(train_result.final_loss, 4),
                heldout_bits_per_byte=round(bpb, 4),
            )
        )
        report.total_seconds = round(time.perf_counter() - started, 1)
        _write_report(demo_dir, report)

    report.total_seconds = round(time.perf_counter() - started, 1)
    report.complete = True
    _write_report(demo_dir, report)
    report_progress("done", 1.0, phase="done")
    return report


def _write_model(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, demo_dir: Path, name: str
) -> tuple[Path, Path, Path]:
    """Write the HF folder and both GGUF files. Each is written under a hidden name, which
    discovery skips, then renamed: the dashboard never lists half a model."""
    partial_dir = demo_dir / f".{name}.partial"
    shutil.rmtree(partial_dir, ignore_errors=True)
    save_hf_model(model, tokenizer, partial_dir)
    ggufs = []
    for out_type, suffix in ((GGUFType.F32, "f32"), (GGUFType.Q8_0, "q8_0")):
        path = demo_dir / f"{name}-{suffix}.gguf"
        partial = demo_dir / f".{path.name}.partial"
        export_gguf(partial_dir, partial, out_type, name=name)
        os.replace(partial, path)
        ggufs.append(path)
    hf_dir = demo_dir / name
    shutil.rmtree(hf_dir, ignore_errors=True)  # left by a build interrupted before its report
    os.replace(partial_dir, hf_dir)
    return hf_dir, ggufs[0], ggufs[1]


def _finished_models(demo_dir: Path, size: str) -> dict[str, DemoModelReport]:
    """The models an earlier build of the same size finished and reported, with files in place."""
    try:
        earlier = json.loads((demo_dir / REPORT_FILE_NAME).read_text(encoding="utf-8"))
        if earlier.get("size") != size:
            return {}
        reports = [DemoModelReport(**entry) for entry in earlier.get("models", [])]
    except (OSError, ValueError, TypeError):
        return {}
    return {r.name: r for r in reports if all(Path(p).exists() for p in (r.hf_dir, r.gguf_f32, r.gguf_q8_0))}


def _write_report(demo_dir: Path, report: DemoReport) -> None:
    partial = demo_dir / f".{REPORT_FILE_NAME}.partial"
    partial.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(partial, demo_dir / REPORT_FILE_NAME)


def training_threads(wanted: int) -> int:
    """`wanted` threads on an idle machine, one when other work keeps the CPU busy.

    torch's threads wait for each other at every operation, so one thread that is descheduled
    stalls the rest: on the 2-core development machine with a load average of 8 (others' test
    suites), 2 threads trained the small demo model at 0.25-0.28 steps/s and 1 thread at 0.70, for
    a third of the CPU time. The weights are the same either way (see the tests).
    """
    # Measured while this process sleeps, so only other work counts. Not the load average: it
    # still holds this build's own training of the previous model, and chose one thread for the
    # 1.4 M model on an idle machine: 528 s of training, where 2 threads run 1.8x faster.
    busy_percent = psutil.cpu_percent(interval=1.0)
    return 1 if busy_percent > _BUSY_PERCENT else wanted


_BUSY_PERCENT = 25.0  # of all cores: half a core of 2


def _first_bytes(documents: list[Document], max_bytes: int) -> list[Document]:
    """Leading documents up to `max_bytes` (at least one): held-out scoring need not read everything."""
    chosen: list[Document] = []
    total = 0
    for document in documents:
        size = len(document.text.encode("utf-8"))
        if chosen and total + size > max_bytes:
            break
        chosen.append(document)
        total += size
    return chosen


class _StagedProgress:
    """Maps each stage's own fraction onto one overall fraction, weighted by expected work."""

    # Preparation (reading, tokenizer, tokenizing: ~6 s) and each model's eval + export (~3 s) in
    # training cost units (parameters x tokens / 1e9, ~0.06 s each on 2 cores): rough, but keeps
    # the bar moving at an even pace.
    _PREP_UNITS = 90.0
    _EVAL_UNITS = 40.0

    def __init__(self, callback: ProgressCallback | None, specs: list[DemoModelSpec]) -> None:
        self._callback = callback
        self._train_units = [
            _approx_parameters(spec.shape)
            * spec.train.steps
            * spec.train.batch_size
            * spec.train.seq_len
            / 1e9
            for spec in specs
        ]
        self._total = self._PREP_UNITS + sum(self._train_units) + self._EVAL_UNITS * len(specs)

    def __call__(self, stage: str, fraction: float, model: int | None = None, phase: str = "train") -> None:
        if self._callback is None:
            return
        if phase == "done":
            done = self._total
        elif model is None:
            done = self._PREP_UNITS * fraction
        else:
            done = self._PREP_UNITS + sum(self._train_units[:model]) + self._EVAL_UNITS * model
            if phase == "train":
                done += self._train_units[model] * fraction
            else:
                done += self._train_units[model] + self._EVAL_UNITS * fraction
        self._callback(stage, min(1.0, done / self._total))


def _approx_parameters(shape: LlamaShape) -> int:
    per_layer = 4 * shape.hidden_size**2 + 3 * shape.hidden_size * shape.intermediate_size
    return 2 * shape.vocab_size * shape.hidden_size + shape.num_layers * per_layer
