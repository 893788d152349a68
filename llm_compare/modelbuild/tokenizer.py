"""Train a small byte-level BPE tokenizer with chat tokens, wrapped for transformers."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"
SYSTEM_TOKEN = "<|system|>"
# Order fixes the ids: <|endoftext|> is 0, then the chat tokens, then the 256 byte symbols.
SPECIAL_TOKENS = (EOS_TOKEN, USER_TOKEN, ASSISTANT_TOKEN, SYSTEM_TOKEN)

# Each message is "<|role|>\n{content}<|endoftext|>\n"; the generation prompt opens the assistant turn.
# Raw strings: the template holds the two characters "\n", which Jinja turns into a newline, rather
# than a newline inside a string literal, which stricter template engines (llama.cpp's) may reject.
CHAT_TEMPLATE = (
    r"{% for message in messages %}"
    r"{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|endoftext|>\n' }}"
    r"{% endfor %}"
    r"{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A GPT-2-style byte-level BPE `tokenizers.Tokenizer` trained on `texts`, with `SPECIAL_TOKENS`."""
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must be at least {len(SPECIAL_TOKENS) + 256} (specials + 256 bytes)")
    tokenizer = Tokenizer(models.BPE())
    # GPT-2's split regex and no prefix space: exactly what llama.cpp applies for
    # tokenizer.ggml.pre = "gpt2", so both libraries cut text into the same pieces.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        # All 256 bytes, seen or not, so any text can be encoded without an unknown token.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def wrap_for_transformers(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """The transformers tokenizer: eos = pad = <|endoftext|>, no BOS, chat template set."""
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        model_max_length=model_max_length,
        # No BOS token at all: nothing is prepended, so transformers and llama.cpp
        # (tokenizer.ggml.add_bos_token = False) see the same ids for the same prompt.
        bos_token=None,
        unk_token=None,
        clean_up_tokenization_spaces=False,
    )
    wrapped.add_special_tokens({"additional_special_tokens": [USER_TOKEN, ASSISTANT_TOKEN, SYSTEM_TOKEN]})
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int) -> PreTrainedTokenizerFast:
    """Train and wrap in one step."""
    return wrap_for_transformers(train_bpe_tokenizer(texts, vocab_size), model_max_length)
