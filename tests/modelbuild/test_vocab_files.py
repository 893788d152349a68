"""llama.cpp's vocabulary files and tokenizer test vectors, fetched through pip."""

import pytest

from llm_compare.modelbuild.vocab_files import (
    VocabFilesUnavailable,
    ensure_vocab_files,
    tokenizer_test_vectors,
)
from llm_compare.services.discovery.gguf_header import read_gguf_header


@pytest.mark.slow
def test_vocabulary_files_are_tokenizers_without_weights_with_their_test_vectors():
    folder = ensure_vocab_files()
    vocabularies = sorted(folder.glob("ggml-vocab-*.gguf"))
    assert len(vocabularies) >= 19
    for path in vocabularies:
        # Discovery's header reader counts the tokens without reading them: gguf.GGUFReader makes
        # an array of every string, minutes for the 19 files on a loaded 2-core machine.
        header = read_gguf_header(path)
        assert len(header.tensors) == 0, path.name
        assert header.array_lengths["tokenizer.ggml.tokens"] > 1000, path.name
    spm = dict(tokenizer_test_vectors("llama-spm"))
    assert spm[" Hello world"] == [29871, 15043, 3186]  # SentencePiece: "▁" then "▁Hello" "▁world"
    assert dict(tokenizer_test_vectors("qwen2"))["Hello world"] == [9707, 1879]


def test_a_version_pypi_does_not_have_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(
        VocabFilesUnavailable, match=r"could not download llama-cpp-python==0\.0\.0rc0's source from PyPI"
    ):
        ensure_vocab_files("0.0.0rc0")
    assert not any(tmp_path.rglob("*.gguf"))
