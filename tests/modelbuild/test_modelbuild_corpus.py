import pytest

from llm_compare.modelbuild.corpus import (
    load_stdlib_documents,
    split_train_heldout,
    stdlib_root,
    stdlib_source_files,
    utf8_bytes,
)

pytestmark = pytest.mark.slow


def test_stdlib_files_are_sorted_and_exclude_tests_and_third_party_packages():
    root = stdlib_root()
    names = [p.relative_to(root).as_posix() for p in stdlib_source_files()]
    assert names == sorted(names)
    assert "os.py" in names and "json/decoder.py" in names
    assert not any(n.startswith(("test/", "site-packages/", "encodings/")) or "/test/" in n for n in names)


def test_loading_respects_the_byte_limit_and_is_reproducible():
    first = load_stdlib_documents(max_bytes=200_000)
    assert 0 < utf8_bytes(first) <= 200_000
    assert first == load_stdlib_documents(max_bytes=200_000)


def test_split_holds_out_whole_files_without_overlap():
    documents = load_stdlib_documents(max_bytes=500_000)
    train, heldout = split_train_heldout(documents, heldout_every=5)
    assert len(heldout) == len(documents) // 5
    assert {d.name for d in train}.isdisjoint(d.name for d in heldout)
    assert len(train) + len(heldout) == len(documents)
    assert split_train_heldout(documents, heldout_every=5) == (train, heldout)
