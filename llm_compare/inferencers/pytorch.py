"""PyTorch backend: Hugging Face folders through transformers, streamed id by id."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, ModelLoadError
from llm_compare.core.models import ModelType
from llm_compare.inferencers.base import LocalInferencer, chat_messages, raw_text, register
from llm_compare.inferencers.placement import (
    Placement,
    apple_chip_name,
    cpu_text,
    gpu_text,
    torch_cpu_feature,
    torch_device,
    torch_device_name,
)
from llm_compare.inferencers.sampling import transformers_sampler_chain

if TYPE_CHECKING:
    import numpy as np

# The end-of-turn markers llama.cpp ends generation on wherever a vocabulary holds them, even when
# the model's config names only its EOS token (llama.cpp's src/llama-vocab.cpp, `special_eog_ids`).
LLAMA_CPP_END_OF_GENERATION_TOKENS = (
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
)


def end_of_generation_ids(tokenizer, config_eos: int | list[int] | None) -> set[int]:
    """The ids that end an answer: the generation config's and tokenizer's EOS, and every
    end-of-turn marker the vocabulary holds (the rule in LocalInferencer.is_end_of_sequence)."""
    vocab = tokenizer.get_vocab()
    eos = config_eos if isinstance(config_eos, list) else [config_eos]
    markers = [vocab.get(text) for text in LLAMA_CPP_END_OF_GENERATION_TOKENS]
    return {i for i in [*eos, tokenizer.eos_token_id, *markers] if i is not None}


@contextmanager
def read_checkpoint_without_mapping(converting: bool) -> Iterator[None]:
    """While transformers builds weights in another dtype than the checkpoint's (bf16 weights run
    in float32 on the CPU), have it read each tensor with pread instead of from a memory map: the
    map's pages stay resident until the whole model is built, so the peak would hold both the
    checkpoint and the converted copy (docs/performance.md, "Real-size memory estimates").
    safetensors' pread backend is the one transformers itself uses on Windows and for MPS.
    Without `converting`, or where transformers opens files some other way, nothing changes."""
    import transformers.modeling_utils as modeling_utils

    opener = getattr(modeling_utils, "safe_open", None)
    if not converting or opener is None:
        yield
        return

    def open_with_pread(filename, framework, device="cpu", *, backend=None, **options):
        backend = "pread" if backend in (None, "mmap") else backend
        return opener(filename, framework, device=device, backend=backend, **options)

    modeling_utils.safe_open = open_with_pread
    try:
        yield
    finally:
        modeling_utils.safe_open = opener


@register(ModelType.PYTORCH)
class PyTorchInferencer(LocalInferencer):
    ignored_fields = {
        "n_ctx": "GGUF only: a PyTorch model's context is its max_position_embeddings",
        "n_gpu_layers": "GGUF only: use device for PyTorch models",
    }

    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # it would garble the CLI's output

        cfg = self.config
        device = torch_device(cfg.device, torch.cuda.is_available(), torch.backends.mps.is_available())
        count = torch.cuda.device_count() if device == "cuda" else 0
        self.device = torch_device_name(device, cfg.main_gpu, count)
        effective_dtype = cfg.effective_dtype_on(device)
        dtype = getattr(torch, effective_dtype) if effective_dtype else "auto"
        # local_files_only: never reach for a model hub.
        common = {"trust_remote_code": cfg.trust_remote_code, "local_files_only": True}
        self.tokenizer = AutoTokenizer.from_pretrained(self.model.path, **common)
        # Safetensors when present; pickled .bin weights go through torch's weights-only loader.
        safetensors = self.model.metadata.format != "pickle"
        converting = effective_dtype is not None and effective_dtype != self.model.metadata.quantization
        with read_checkpoint_without_mapping(safetensors and converting):
            lm, loading = AutoModelForCausalLM.from_pretrained(
                self.model.path, dtype=dtype, use_safetensors=safetensors, output_loading_info=True, **common
            )
        # transformers fills missing weights with random values and only logs it: refuse instead.
        missing = sorted(loading.get("missing_keys") or [])
        if missing:
            raise ModelLoadError(
                f"{len(missing)} weights are missing from the checkpoint (e.g. {missing[0]}): "
                "the files are incomplete or not for this architecture"
            )
        self.lm = lm.to(self.device)
        self.lm.eval()
        self._cancel_checks = _CancelChecks(self.lm)
        self.eos_ids = end_of_generation_ids(self.tokenizer, self.lm.generation_config.eos_token_id)
        # The checkpoint's generation_config contributes its end tokens only: generate() would
        # otherwise fill every setting we leave unset from it (no_repeat_ngram_size, suppress_tokens,
        # top_k...) on this backend alone. Its recommendations are a preset the user may apply.
        self.lm.generation_config = GenerationConfig(eos_token_id=sorted(self.eos_ids))

    def warm_up(self) -> None:
        import torch

        with torch.inference_mode():
            self.lm(torch.zeros((1, 1), dtype=torch.long, device=self.device))

    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def encode_prompt(self, prompt: str | list[dict], system_prompt: str, chat: bool) -> list[int]:
        if not chat:
            return list(self.tokenizer(raw_text(prompt))["input_ids"])
        messages = chat_messages(prompt, system_prompt)
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        # The template writes any BOS itself, so the tokenizer must not add another.
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def runtime_info(self) -> dict[str, str]:
        return {"dtype": str(self.lm.dtype).removeprefix("torch.")}

    def placement(self) -> Placement:
        import torch

        layers = getattr(self.lm.config, "num_hidden_layers", None)
        on_gpu = self.device != "cpu"
        if self.device.startswith("cuda"):
            device = gpu_text("CUDA", torch.cuda.get_device_name(self.device))
        elif self.device == "mps":
            device = gpu_text("Metal", apple_chip_name())
        else:
            device = cpu_text(
                torch.get_num_threads(), torch_cpu_feature(torch.backends.cpu.get_cpu_capability())
            )
        return Placement(
            device,
            (layers if on_gpu else 0) if layers is not None else None,
            layers,
            cuda_index=self.config.main_gpu if self.device.startswith("cuda") else None,
            resolved={"torch_device": self.device},
        )

    def ignored_settings(self, config: ModelConfig) -> dict[str, str]:
        ignored = super().ignored_settings(config)
        if config.n_gpu_layers == 0 and getattr(self, "device", config.device) == "cpu":
            ignored.pop("n_gpu_layers", None)  # it says what device cpu does (the default before auto)
        return ignored

    def generate(
        self,
        prompt_ids: list[int],
        config: ModelConfig,
        on_token: Callable[[int], bool],
        cancelled: Callable[[], bool],
    ) -> None:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        keep_going = [True]

        class TokenStreamer(BaseStreamer):
            """generate() hands each new id here before checking its stopping criteria."""

            prompt_seen = False

            def put(self, value):
                if not self.prompt_seen:  # the first call carries the prompt itself
                    self.prompt_seen = True
                elif keep_going[0]:
                    keep_going[0] = on_token(int(value.reshape(-1)[0]))

            def end(self):
                pass

        class StopWhenTold(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full(
                    (input_ids.shape[0],), not keep_going[0], dtype=torch.bool, device=input_ids.device
                )

        # Like llama.cpp, stop with `length` when the context is full rather than run past the
        # positions the model was trained for.
        limit = self.context_limit(config)
        room = limit - len(prompt_ids) if limit else config.max_tokens
        generation = GenerationConfig(
            max_new_tokens=min(config.max_tokens, room),
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else min(self.eos_ids, default=0),
        )
        seed = config.seed if config.seed is not None else random.getrandbits(31)
        input_ids = torch.tensor([prompt_ids], device=self.device)
        with torch.inference_mode(), self._cancel_checks.active(cancelled):
            try:
                self.lm.generate(
                    input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    generation_config=generation,
                    # generate() runs greedy: when sampling, the chain's own draw leaves one token.
                    logits_processor=transformers_sampler_chain(config, seed),
                    streamer=TokenStreamer(),
                    stopping_criteria=StoppingCriteriaList([StopWhenTold()]),
                )
            except Cancelled:
                pass  # Stop reached inside a forward pass; the loop records it as cancelled

    def evaluate(
        self, token_ids: Sequence[int], first_output: int = 0, cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray | None:
        """See LocalInferencer.evaluate: one forward pass over the whole sequence (float32 logits)."""
        import torch

        n, limit = len(token_ids), self.context_limit(self.config)
        if not 0 <= first_output < n or (limit and n > limit):
            raise ConfigurationError(
                f"{n} tokens to evaluate but the model holds {limit}: pass 1 to {limit} tokens"
            )
        input_ids = torch.tensor([list(token_ids)], device=self.device)
        with torch.inference_mode(), self._cancel_checks.active(cancelled or (lambda: False)):
            try:
                # logits_to_keep: the output layer runs only for the positions asked for.
                logits = self.lm(input_ids, logits_to_keep=n - first_output).logits
            except Cancelled:
                return None
        return logits[0].float().cpu().numpy()

    def vocabulary(self) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))

    def chunk_bos(self) -> int | None:
        bos = self.tokenizer.bos_token_id
        adds_bos = bos is not None and self.tokenizer("a")["input_ids"][:1] == [bos]
        return bos if adds_bos else None

    def decode_ids(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def special_token_text(self, token_id: int) -> str:
        added = self.tokenizer.added_tokens_decoder.get(token_id)
        return added.content if added is not None and added.special else ""

    def set_threads(self, n_threads: int) -> None:
        import torch

        torch.set_num_threads(n_threads)

    def is_end_of_sequence(self, token_id: int) -> bool:
        return token_id in self.eos_ids

    def backend_versions(self) -> dict[str, str]:
        import torch
        import transformers

        # str(): torch.__version__ is a torch object, and unpickling it would import torch in the dashboard.
        return {"torch": str(torch.__version__), "transformers": str(transformers.__version__)}

    def unload(self) -> None:
        self.lm = None


class Cancelled(Exception):
    """Raised inside a forward pass when Stop was asked for."""


class _CancelChecks:
    """Checks for Stop before every decoder layer, so that Stop also reaches inside one long
    forward pass (the prompt of a big model takes seconds), not only between tokens."""

    def __init__(self, lm):
        import torch

        self.cancelled: Callable[[], bool] | None = None
        layer_lists = [m for m in lm.modules() if isinstance(m, torch.nn.ModuleList)]
        if layer_lists:
            for layer in max(layer_lists, key=len):  # the decoder layers
                layer.register_forward_pre_hook(self._check)

    def _check(self, module, args) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled()

    @contextmanager
    def active(self, cancelled: Callable[[], bool]) -> Iterator[None]:
        self.cancelled = cancelled
        try:
            yield
        finally:
            self.cancelled = None
