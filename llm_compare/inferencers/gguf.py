"""GGUF backend: llama.cpp through llama-cpp-python's low-level API, driven the way llama.cpp's
own tools drive it (the prompt in batches of n_batch, then one llama_decode per token, a C sampler
chain, and only C between two tokens: token_loop.c), so a GGUF figure is llama.cpp's speed and not
that of a Python wrapper around it."""

from __future__ import annotations

import ctypes
import os
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import TYPE_CHECKING

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, LLMCompareError, ModelLoadError
from llm_compare.core.models import ModelType
from llm_compare.inferencers.base import LocalInferencer, chat_messages, raw_text, register
from llm_compare.inferencers.generation import TEXT_INTERVAL_S
from llm_compare.inferencers.placement import (
    ALL_LAYERS,
    Placement,
    apple_chip_name,
    cpu_text,
    gguf_gpu_layers,
    gguf_layers_reported,
    gguf_offload_bytes,
    gpu_text,
    llama_cpu_feature,
    llama_gpu_backend,
    nvidia_free_bytes,
    nvidia_gpu_name,
)
from llm_compare.inferencers.sampling import llama_sampler_chain
from llm_compare.inferencers.token_loop import load_token_loop

if TYPE_CHECKING:
    import numpy as np

# llama.cpp's own defaults (llama-server, llama-bench): the prompt goes to llama_decode in
# batches of up to 2048 tokens, computed 512 at a time.
N_BATCH = 2048
N_UBATCH = 512
_DECODE_ABORTED = 2  # llama_decode's return value when the abort callback said stop


class LlamaCppError(LLMCompareError):
    """llama_decode failed."""


@register(ModelType.GGUF)
class GGUFInferencer(LocalInferencer):
    ignored_fields = {
        "dtype": "PyTorch only: a GGUF file's types are fixed when it is written",
        "device": "PyTorch only: use n_gpu_layers for GGUF models",
        "trust_remote_code": "GGUF files carry no code",
    }

    def load(self) -> None:
        import llama_cpp as L
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's errors only, as Llama(verbose=False)
        L.llama_backend_init()
        cfg = self.config
        system_info = L.llama_print_system_info().decode(errors="replace")
        self._gpu_backend = llama_gpu_backend(system_info) if L.llama_supports_gpu_offload() else None
        self._cpu_feature = llama_cpu_feature(system_info)
        meta = self.model.metadata
        requested, _ = gguf_gpu_layers(  # its warning: ignored_settings
            cfg.n_gpu_layers,
            can_offload=self._gpu_backend is not None,
            layers_total=meta.block_count + 1 if meta.block_count else None,
            model_bytes=gguf_offload_bytes(self.model.size_bytes, meta.block_count, meta.kv_width, cfg.n_ctx),
            free_gpu_bytes=self._free_gpu_bytes(),
        )
        model_params = L.llama_model_default_params()
        model_params.n_gpu_layers = 0x7FFFFFFF if requested == ALL_LAYERS else requested
        model_params.main_gpu = cfg.main_gpu
        model_params.split_mode = L.LLAMA_SPLIT_MODE_NONE  # one GPU per model: main_gpu
        self._model = L.llama_model_load_from_file(os.fsencode(self.model.path), model_params)
        if not self._model:
            raise ModelLoadError(
                f"llama.cpp could not load {self.model.path}: not a model file this llama.cpp can read"
            )
        params = L.llama_context_default_params()
        params.n_ctx = cfg.n_ctx
        params.n_batch, params.n_ubatch = min(cfg.n_ctx, N_BATCH), min(cfg.n_ctx, N_UBATCH)
        params.n_threads = params.n_threads_batch = self._n_threads = cfg.n_threads or os.cpu_count() or 1
        self._ctx = L.llama_init_from_model(self._model, params)
        if not self._ctx:
            L.llama_model_free(self._model)
            self._model = None
            raise ModelLoadError(
                f"llama.cpp could not make a context of {cfg.n_ctx} tokens for {self.model.path}: lower n_ctx"
            )
        self._vocab = L.llama_model_get_vocab(self._model)
        offloaded, total = gguf_layers_reported(requested, L.llama_model_n_layer(self._model))
        self._layers = (offloaded if self._gpu_backend else 0, total)
        self._memory = L.llama_get_memory(self._ctx)
        self._n_ctx = L.llama_n_ctx(self._ctx)
        self._n_batch = params.n_batch
        self._n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self._token_loop, loop_kind = load_token_loop()
        self._runtime = {
            "n_ctx": self._n_ctx,
            "n_batch": params.n_batch,
            "n_ubatch": params.n_ubatch,
            "token_loop": loop_kind,
        }
        template = L.llama_model_chat_template(self._model, None)
        self.template = template.decode() if template else None
        self.bos_id = L.llama_vocab_bos(self._vocab)
        self._ids = (L.llama_token * self._n_ctx)()  # the prompt, fed to llama_decode from here
        # The token loop's output, made once: each token drawn and when (perf_counter's clock).
        self._drawn, self._drawn_at = (L.llama_token * self._n_ctx)(), (ctypes.c_double * self._n_ctx)()
        self._special_text: dict[int, str] = {}
        self._pieces: dict[int, bytes] = {}
        self._is_eog = L.llama_vocab_is_eog  # bound once: called for every generated token

    def warm_up(self) -> None:
        self._decode_prompt([max(self.bos_id, 0)])
        self._clear_kv_cache()

    def has_chat_template(self) -> bool:
        return bool(self.template)

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        """llama.cpp's token ids of `text`, special tokens such as `<|im_end|>` parsed; with
        `add_bos`, a BOS first when the vocabulary asks for one."""
        import llama_cpp as L

        data = text.encode()
        size = len(data) + 2
        while True:
            ids = (L.llama_token * size)()
            n = L.llama_tokenize(self._vocab, data, len(data), ids, size, add_bos, True)
            if n >= 0:
                return ids[:n]
            size = -n

    def encode_prompt(self, prompt: str | list[dict], system_prompt: str, chat: bool) -> list[int]:
        if not chat:
            return self.tokenize(raw_text(prompt), add_bos=True)
        import llama_cpp as L
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            template=self.template,
            eos_token=self._token_text(L.llama_vocab_eos(self._vocab)),
            bos_token=self._token_text(self.bos_id),
        )
        messages = chat_messages(prompt, system_prompt)
        # The template writes any BOS itself, so tokenizing must not add another.
        return self.tokenize(formatter(messages=messages).prompt, add_bos=False)

    def generate(
        self,
        prompt_ids: list[int],
        config: ModelConfig,
        on_token: Callable[[int, float], bool],
        cancelled: Callable[[], bool],
    ) -> None:
        import llama_cpp as L

        # Every run starts from an empty KV cache: reusing a cached prompt prefix would
        # make one model's TTFT incomparable with another's.
        self._clear_kv_cache()
        sampler = llama_sampler_chain(
            config, config.seed if config.seed is not None else random.getrandbits(31)
        )
        try:
            if config.repeat_penalty != 1.0:  # the penalty window counts the prompt, as llama-server's does
                for token_id in prompt_ids:
                    L.llama_sampler_accept(sampler, token_id)
            with self._abortable(cancelled):
                if not self._decode_prompt(prompt_ids):
                    return
            limit = min(self._n_ctx - len(prompt_ids), config.max_tokens)
            self._decode_loop(sampler, limit, on_token, one_at_a_time=bool(config.stop))
        finally:
            L.llama_sampler_free(sampler)

    def _decode_prompt(self, prompt_ids: Sequence[int]) -> bool:
        """Feed the prompt in batches of n_batch; False when Stop aborted it."""
        import llama_cpp as L

        self._ids[: len(prompt_ids)] = prompt_ids
        for start in range(0, len(prompt_ids), self._n_batch):
            count = min(self._n_batch, len(prompt_ids) - start)
            first = ctypes.addressof(self._ids) + start * ctypes.sizeof(L.llama_token)
            batch = L.llama_batch_get_one(ctypes.cast(first, L.llama_token_p), count)
            if not self._check(L.llama_decode(self._ctx, batch)):
                return False
        return True

    def _decode_loop(
        self, sampler, limit: int, on_token: Callable[[int, float], bool], one_at_a_time: bool
    ) -> None:
        """Draw up to `limit` tokens (the last is not decoded) through the token loop, which returns
        to Python only now and then: after the first token (TTFT), then after the tokens of each
        TEXT_INTERVAL_S, the interval at which text is shown anyway; `on_token` then takes them with
        the times they were drawn. With `one_at_a_time` (a stop string may end the answer) it
        returns after every token, so that nothing is decoded past the end of the answer."""
        status, pending, drawn, until = ctypes.c_int(), -1, 0, 0.0
        while drawn < limit:
            n = self._token_loop(
                self._ctx,
                sampler,
                self._vocab,
                pending,
                limit - drawn,
                until,
                self._drawn,
                self._drawn_at,
                status,
            )
            for token_id, at in zip(self._drawn[:n], self._drawn_at[:n]):
                if not on_token(token_id, at):
                    return
            if not self._check(status.value):
                return
            drawn, pending = drawn + n, self._drawn[n - 1]
            until = 0.0 if one_at_a_time else perf_counter() + TEXT_INTERVAL_S

    def evaluate(
        self, token_ids: Sequence[int], first_output: int = 0, cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray | None:
        """See LocalInferencer.evaluate. As llama-perplexity does: logits are asked for only from
        `first_output` on (llama.cpp computes the output layer for those positions alone), and the
        tokens go to llama_decode n_batch at a time."""
        import llama_cpp as L
        import numpy as np

        n = len(token_ids)
        if not 0 <= first_output < n <= self._n_ctx:
            raise ConfigurationError(
                f"{n} tokens to evaluate but the context holds {self._n_ctx}: pass 1 to {self._n_ctx} tokens"
            )
        logits = np.empty((n - first_output, self._n_vocab), dtype=np.float32)
        self._clear_kv_cache()
        batch = L.llama_batch_init(self._n_batch, 0, 1)
        filled = 0
        try:
            with self._abortable(cancelled or (lambda: False)):
                for start in range(0, n, self._n_batch):
                    count = min(self._n_batch, n - start)
                    for i in range(count):
                        position = start + i
                        batch.token[i], batch.pos[i], batch.n_seq_id[i] = token_ids[position], position, 1
                        batch.logits[i] = position >= first_output
                        batch.seq_id[i][0] = 0
                    batch.n_tokens = count
                    if not self._check(L.llama_decode(self._ctx, batch)):
                        return None
                    outputs = start + count - max(start, first_output)
                    if outputs > 0:
                        rows = np.ctypeslib.as_array(
                            L.llama_get_logits(self._ctx), shape=(outputs, self._n_vocab)
                        )
                        logits[filled : filled + outputs] = rows
                        filled += outputs
        finally:
            L.llama_batch_free(batch)
            self._clear_kv_cache()
        return logits

    def _clear_kv_cache(self) -> None:
        """Mark every cell of the KV cache empty, as llama-bench and llama-server do between
        requests, without zeroing its data: that wrote the whole cache before every prompt, inside
        TTFT, a cost that grows with the cache (gigabytes for a 7B model at 4,096). Empty cells are
        masked out of attention, and llama.cpp
        zeroes the cache once when it makes it, so what they still hold is never read."""
        import llama_cpp as L

        L.llama_memory_clear(self._memory, False)

    def text_bytes(self, ids: Sequence[int], start: int, end: int) -> int:
        """Each token's own bytes, added up: llama.cpp's detokenizer may tidy spaces away (a
        vocabulary's clean_spaces), which would undercount the text."""
        return sum(len(self._piece_bytes(token_id)) for token_id in ids[start:end])

    def _piece_bytes(self, token_id: int) -> bytes:
        """A token's bytes as the text holds them; none for a control token."""
        piece = self._pieces.get(token_id)
        if piece is None:
            import llama_cpp as L

            buffer = ctypes.create_string_buffer(256)
            n = L.llama_token_to_piece(self._vocab, token_id, buffer, len(buffer), 0, False)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = L.llama_token_to_piece(self._vocab, token_id, buffer, len(buffer), 0, False)
            piece = self._pieces[token_id] = buffer.raw[:n]
        return piece

    def vocabulary(self) -> list[str]:
        import llama_cpp as L

        return [
            L.llama_vocab_get_text(self._vocab, i).decode("utf-8", "surrogateescape")
            for i in range(self._n_vocab)
        ]

    def chunk_bos(self) -> int | None:
        import llama_cpp as L

        return self.bos_id if self.bos_id >= 0 and L.llama_vocab_get_add_bos(self._vocab) else None

    @contextmanager
    def _abortable(self, cancelled: Callable[[], bool]) -> Iterator[None]:
        """Let Stop abort llama_decode while it processes the prompt (seconds for a long prompt
        on a big model). Only then: llama.cpp asks between every step of its graph, and a
        Python answer per step would slow token generation measurably; between tokens the
        generation loop checks Stop itself."""
        import llama_cpp as L

        callback = L.ggml_abort_callback(lambda _data: bool(cancelled()))
        L.llama_set_abort_callback(self._ctx, callback, None)
        try:
            yield
        finally:
            L.llama_set_abort_callback(self._ctx, L.ggml_abort_callback(), None)

    def _check(self, status: int) -> bool:
        """True when llama_decode succeeded, False when it was aborted; raises on failure."""
        if status == 0:
            return True
        if status == _DECODE_ABORTED:
            return False
        if status == 1:
            raise LlamaCppError(
                f"llama.cpp found no room in its KV cache of {self._n_ctx} tokens: raise n_ctx"
            )
        raise LlamaCppError(f"llama_decode failed with status {status}")

    def decode_ids(self, ids: list[int]) -> str:
        """The tokens' pieces joined, as llama.cpp's server and tools build an answer (and as
        transformers decodes a BPE text). Not llama_detokenize: for many vocabularies (GPT-2's,
        Llama 3's: clean_spaces) it also tidies spaces away (" ," -> ",", " 's" -> "'s"), and text
        tidied so no longer grows token by token, which lost the punctuation from streamed answers.
        A SentencePiece word's leading space at the very start is kept: the streaming decoder only
        compares texts that start at the same token."""
        return b"".join([self._piece_bytes(token_id) for token_id in ids]).decode("utf-8", errors="replace")

    def special_token_text(self, token_id: int) -> str:
        text = self._special_text.get(token_id)
        if text is None:
            import llama_cpp as L

            is_control = L.llama_vocab_get_attr(self._vocab, token_id) & L.LLAMA_TOKEN_ATTR_CONTROL
            text = self._special_text[token_id] = self._token_text(token_id) if is_control else ""
        return text

    def set_threads(self, n_threads: int) -> None:
        import llama_cpp as L

        L.llama_set_n_threads(self._ctx, n_threads, n_threads)
        self._n_threads = n_threads

    def _free_gpu_bytes(self) -> int | None:
        """Free memory on the GPU this model would go to: NVML's for main_gpu on CUDA, the
        system's available memory on Metal (unified memory), None where neither tells."""
        if self._gpu_backend == "CUDA":
            return nvidia_free_bytes(self.config.main_gpu)
        if self._gpu_backend == "Metal":
            import psutil

            return psutil.virtual_memory().available
        return None

    def placement(self) -> Placement:
        offloaded, total = self._layers
        if offloaded:
            cuda = self._gpu_backend == "CUDA"
            name = nvidia_gpu_name(self.config.main_gpu) if cuda else None
            name = apple_chip_name() if self._gpu_backend == "Metal" else name
            device = gpu_text(self._gpu_backend or "GPU", name)
        else:
            cuda, device = False, cpu_text(self._n_threads, self._cpu_feature)
        return Placement(
            device,
            offloaded,
            total,
            cuda_index=self.config.main_gpu if cuda else None,
            resolved={"n_gpu_layers": str(offloaded)},
        )

    def ignored_settings(self, config: ModelConfig) -> dict[str, str]:
        ignored = super().ignored_settings(config)
        if config.device == "cpu" and config.n_gpu_layers == 0:
            ignored.pop("device", None)  # it says what n_gpu_layers 0 does (the default before auto)
        if hasattr(self, "_gpu_backend"):  # known once loaded: a count a CPU-only build cannot honour
            _, warning = gguf_gpu_layers(config.n_gpu_layers, self._gpu_backend is not None, None, 0, None)
            if warning:
                ignored["n_gpu_layers"] = warning
        return ignored

    def is_end_of_sequence(self, token_id: int) -> bool:
        return self._is_eog(self._vocab, token_id)

    def context_limit(self, config: ModelConfig) -> int | None:
        return self._n_ctx

    def backend_versions(self) -> dict[str, str]:
        import llama_cpp

        return {"llama_cpp_python": llama_cpp.__version__}

    def runtime_info(self) -> dict[str, str]:
        return {name: str(value) for name, value in self._runtime.items()}

    def unload(self) -> None:
        import llama_cpp as L

        if getattr(self, "_ctx", None):
            L.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            L.llama_model_free(self._model)
            self._model = None

    def _token_text(self, token_id: int) -> str:
        """One token's text, special tokens written out (llama_token_to_piece, any length)."""
        import llama_cpp as L

        if token_id < 0:
            return ""
        size = 64
        while True:
            piece = ctypes.create_string_buffer(size)
            n = L.llama_token_to_piece(self._vocab, token_id, piece, size, 0, True)
            if n >= 0:
                return piece.raw[:n].decode("utf-8", errors="replace")
            size = -n
