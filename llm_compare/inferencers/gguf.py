"""GGUF backend: llama.cpp through llama-cpp-python, streamed id by id."""

from __future__ import annotations

import codecs
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ModelLoadError
from llm_compare.core.models import ModelType
from llm_compare.inferencers.base import BaseInferencer, register


@register(ModelType.GGUF)
class GGUFInferencer(BaseInferencer):
    ignored_fields = {
        "dtype": "PyTorch only: a GGUF file's types are fixed when it is written",
        "device": "PyTorch only: use n_gpu_layers for GGUF models",
        "trust_remote_code": "GGUF files carry no code",
    }

    def load(self) -> None:
        from llama_cpp import Llama

        cfg = self.config
        try:
            self.llm = Llama(
                model_path=self.model.path,
                n_ctx=cfg.n_ctx,
                n_threads=cfg.n_threads or os.cpu_count() or 1,
                n_gpu_layers=cfg.n_gpu_layers,
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python reports every load failure this way
            raise ModelLoadError(f"llama.cpp could not load {self.model.path}: {exc}") from None
        self.template = self.llm.metadata.get("tokenizer.chat_template")

    def warm_up(self) -> None:
        token = self.llm.token_bos()
        self.llm.eval([token if token >= 0 else 0])
        self.llm.reset()

    def has_chat_template(self) -> bool:
        return bool(self.template)

    def encode_prompt(self, prompt: str, system_prompt: str, chat: bool) -> list[int]:
        if not chat:
            return self.llm.tokenize(prompt.encode(), add_bos=True, special=True)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            template=self.template, eos_token=self._token_text(self.llm.token_eos()), bos_token=self._token_text(self.llm.token_bos())
        )
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": prompt}
        ]
        text = formatter(messages=messages).prompt
        # The template writes any BOS itself, so tokenizing must not add another.
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def generate(
        self, prompt_ids: list[int], config: ModelConfig, on_token: Callable[[int], bool], cancelled: Callable[[], bool]
    ) -> None:
        # Every run starts from an empty KV cache: reusing a cached prompt prefix would
        # make one model's TTFT incomparable with another's.
        self.llm.reset()
        self.llm.set_seed(config.seed if config.seed is not None else random.getrandbits(31))
        room = self.llm.n_ctx() - len(prompt_ids)
        tokens = self.llm.generate(
            prompt_ids,
            top_k=config.top_k,
            top_p=config.top_p,
            min_p=0.0,  # llama-cpp-python defaults to 0.05; we have no such setting, so keep it off
            typical_p=1.0,
            temp=config.temperature,
            repeat_penalty=config.repeat_penalty,
            reset=False,
        )
        with self._abortable_prompt(cancelled):
            try:
                first = next(tokens)
            except RuntimeError:  # llama_decode returned "aborted"
                if cancelled():
                    return
                raise
        if not on_token(first) or room <= 1:
            return
        for produced, token_id in enumerate(tokens, start=2):
            if not on_token(token_id) or produced >= room:
                return

    @contextmanager
    def _abortable_prompt(self, cancelled: Callable[[], bool]) -> Iterator[None]:
        """Let Stop abort llama_decode while it processes the prompt (seconds for a long prompt
        on a big model). Only then: llama.cpp asks between every step of its graph, and a
        Python answer per step would slow token generation measurably; between tokens the
        generation loop checks Stop itself."""
        import llama_cpp

        callback = llama_cpp.ggml_abort_callback(lambda _data: bool(cancelled()))
        llama_cpp.llama_set_abort_callback(self.llm.ctx, callback, None)
        try:
            yield
        finally:
            llama_cpp.llama_set_abort_callback(self.llm.ctx, llama_cpp.ggml_abort_callback(), None)

    def new_text_decoder(self) -> Callable[[int | None], str]:
        # Token bytes may end inside a UTF-8 sequence: an incremental decoder holds them back.
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def decode(token_id: int | None) -> str:
            if token_id is None:
                return utf8.decode(b"", final=True)
            return utf8.decode(self.llm.detokenize([token_id]))

        return decode

    def set_threads(self, n_threads: int) -> None:
        import llama_cpp

        llama_cpp.llama_set_n_threads(self.llm.ctx, n_threads, n_threads)

    def is_end_of_sequence(self, token_id: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token_id))

    def context_limit(self, config: ModelConfig) -> int | None:
        return self.llm.n_ctx()

    def backend_versions(self) -> dict[str, str]:
        import llama_cpp

        return {"llama_cpp_python": llama_cpp.__version__}

    def unload(self) -> None:
        self.llm.close()

    def _token_text(self, token_id: int) -> str:
        return self.llm.detokenize([token_id], special=True).decode("utf-8", errors="replace") if token_id >= 0 else ""
