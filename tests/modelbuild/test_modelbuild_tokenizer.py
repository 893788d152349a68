import pytest

from llm_compare.modelbuild.corpus import load_stdlib_documents
from llm_compare.modelbuild.tokenizer import SPECIAL_TOKENS, build_tokenizer, train_bpe_tokenizer


def _texts() -> list[str]:
    return [d.text for d in load_stdlib_documents(max_bytes=300_000)]


@pytest.mark.slow
def test_training_twice_gives_the_same_tokenizer():
    first = train_bpe_tokenizer(_texts(), vocab_size=400)
    second = train_bpe_tokenizer(_texts(), vocab_size=400)
    assert first.to_str() == second.to_str()
    assert first.get_vocab_size() == 400


def test_special_tokens_come_first_and_nothing_is_added_automatically():
    tokenizer = build_tokenizer(_texts(), vocab_size=400, model_max_length=256)
    assert [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tokenizer.bos_token is None
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == 0
    ids = tokenizer("x = 1")["input_ids"]
    assert tokenizer.decode(ids) == "x = 1"  # no BOS, no EOS, no prefix space
    assert tokenizer("<|user|>hi<|endoftext|>")["input_ids"][0] == 1
    assert tokenizer("<|user|>hi<|endoftext|>")["input_ids"][-1] == 0


def test_chat_template_renders_roles_and_the_generation_prompt(hf_tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == ("<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n")
    without_prompt = hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert not without_prompt.endswith("<|assistant|>\n")
