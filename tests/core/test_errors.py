"""one_line: how every layer tells an exception in one line."""

from llm_compare.core.errors import MAX_FOREIGN_CHARS, InferenceError, one_line


def test_our_errors_are_told_as_they_are():
    assert one_line(InferenceError("the model stopped: try again")) == "the model stopped: try again"


def test_another_librarys_error_is_its_first_line_after_its_type():
    error = RuntimeError("  disk on fire\nTraceback (most recent call last): ...")
    assert one_line(error) == "RuntimeError: disk on fire"


def test_the_type_can_be_left_to_the_callers_words():
    assert one_line(OSError("database is locked"), name_type=False) == "database is locked"


def test_an_empty_message_gives_the_type():
    assert one_line(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert one_line(ValueError(" \n ")) == "ValueError"
    assert one_line(InferenceError()) == "InferenceError"


def test_a_long_foreign_message_is_cut_and_ours_never_are():
    cut = one_line(ValueError("x" * 1000))
    assert len(cut) == MAX_FOREIGN_CHARS and cut.startswith("ValueError: xxx") and cut.endswith("…")
    assert one_line(InferenceError("y" * 1000)) == "y" * 1000
