"""The PyTorch backend samples with our processors and nothing else: not transformers' own order,
not the checkpoint's generation_config."""

import json
import shutil
from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.inferencers.base import create_inferencer
from llm_compare.inferencers.sampling import logits_processors
from llm_compare.services.discovery.model_manager import ModelManager

PROMPT = "def parse_args(argv):\n    "
N = 24
SAMPLED = ModelConfig(
    temperature=1.5, top_k=0, top_p=0.9, repeat_penalty=1.3, repeat_last_n=8, seed=5, max_tokens=N
)


def load(folder: Path):
    inferencer = create_inferencer(ModelManager([folder.parent]).inspect(folder), ModelConfig())
    inferencer.load()
    inferencer.set_threads(2)
    return inferencer


@pytest.fixture(scope="module")
def hf(tiny_models):
    inferencer = load(Path(tiny_models["hf"].path))
    yield inferencer
    inferencer.unload()


def backend_ids(inferencer, config: ModelConfig) -> list[int]:
    prompt_ids = inferencer.encode_prompt(PROMPT, "", chat=False)
    ids: list[int] = []

    def on_token(token_id: int) -> bool:
        ids.append(token_id)
        return len(ids) < config.max_tokens and not inferencer.is_end_of_sequence(token_id)

    inferencer.generate(prompt_ids, config, on_token, lambda: False)
    return ids


def reference_ids(inferencer, config: ModelConfig) -> list[int]:
    """The documented order by hand: the model's logits for the whole sequence so far, our
    processors, then llama.cpp's draw (the first token whose running probability passes a uniform
    number) from a generator seeded with the run's seed."""
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    processors = logits_processors(config)
    sequence = torch.tensor([inferencer.encode_prompt(PROMPT, "", chat=False)])
    ids: list[int] = []
    with torch.inference_mode():
        while len(ids) < config.max_tokens and not (ids and inferencer.is_end_of_sequence(ids[-1])):
            logits = inferencer.lm(sequence).logits[:, -1, :].float()
            probs = processors(sequence, logits).softmax(dim=-1)[0].tolist()
            target, running = float(torch.rand(1, generator=generator)) * sum(probs), 0.0
            token = next(i for i, p in enumerate(probs) if p > 0 and (running := running + p) > target)
            sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
            ids.append(token)
    return ids


def test_sampling_is_the_documented_order_and_nothing_else(hf):
    assert backend_ids(hf, SAMPLED) == reference_ids(hf, SAMPLED)


def test_a_seeded_sampled_run_repeats_and_another_seed_differs(hf):
    first = backend_ids(hf, SAMPLED)
    assert backend_ids(hf, SAMPLED) == first
    assert backend_ids(hf, SAMPLED.updated(seed=6)) != first


@pytest.fixture(scope="module")
def checkpoint_variants(tiny_models, tmp_path_factory, hf):
    """The tiny model's folder twice: without generation_config.json, and with one that
    recommends everything generate() would otherwise apply on its own."""
    source = Path(tiny_models["hf"].path)
    root = tmp_path_factory.mktemp("generation-configs")
    plain, opinionated = root / "plain" / "tiny", root / "opinionated" / "tiny"
    for folder in (plain, opinionated):
        shutil.copytree(source, folder)
    (plain / "generation_config.json").unlink()
    original = json.loads((source / "generation_config.json").read_text())
    first_greedy = backend_ids(hf, ModelConfig(temperature=0.0, max_tokens=1))[0]
    (opinionated / "generation_config.json").write_text(
        json.dumps(
            {
                **{key: original[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id")},
                "do_sample": True,
                "temperature": 0.2,
                "top_k": 1,
                "top_p": 0.5,
                "repetition_penalty": 2.0,
                "no_repeat_ngram_size": 1,
                "suppress_tokens": [first_greedy],
                "min_new_tokens": N,
            }
        )
    )
    loaded = {name: load(folder) for name, folder in (("plain", plain), ("opinionated", opinionated))}
    yield loaded
    for inferencer in loaded.values():
        inferencer.unload()


@pytest.mark.parametrize(
    "config",
    [ModelConfig(temperature=0.0, max_tokens=N), SAMPLED.updated(top_p=1.0, temperature=1.0)],
    ids=["greedy", "sampled"],
)
def test_the_checkpoint_generation_config_changes_nothing(checkpoint_variants, config):
    plain = backend_ids(checkpoint_variants["plain"], config)
    assert len(plain) == N
    assert backend_ids(checkpoint_variants["opinionated"], config) == plain
