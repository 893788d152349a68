"""Prompt suites (built-in, JSONL, CSV) and the checks on answers."""

import json

import pytest

from llm_compare.services.bench.checks import Check, CheckError, parse_checks, run_checks
from llm_compare.services.bench.suites import SuiteError, builtin_suite, load_suite, parse_suite


def passed(spec: dict, answer: str) -> list[bool]:
    return [outcome.passed for outcome in run_checks(parse_checks(spec), answer)]


@pytest.mark.parametrize(
    ("spec", "answer", "expected"),
    [
        ({"contains": "Paris"}, "It is Paris.", [True]),
        ({"contains": "Paris"}, "It is paris.", [False]),
        ({"contains": ["red", "blue"]}, "red\ngreen", [True, False]),
        ({"not_contains": "As an AI"}, "Sure.", [True]),
        ({"not_contains": "As an AI"}, "As an AI, I", [False]),
        ({"regex": r"^\d{3}$"}, "123", [True]),
        ({"regex": r"^\d{3}$"}, "1234", [False]),
        ({"equals": "Paris"}, " Paris\n", [True]),
        ({"equals": "Paris"}, "Paris, France", [False]),
        ({"starts_with": "def "}, " def f(): pass", [True]),
        ({"starts_with": "def "}, "Here: def f", [False]),
        ({"python_syntax": True}, "def f(x):\n    return x\n", [True]),
        ({"python_syntax": True}, "def f(x)\n    return x\n", [False]),
        ({"python_syntax": True}, "Here you are:\n```python\nprint(1)\n```\nDone.", [True]),
        ({"python_syntax": True}, "```python\nprint(1\n```", [False]),
        ({"json": True}, '{"name": "Ada", "age": 36}', [True]),
        ({"json": True}, "{'name': 'Ada'}", [False]),
        ({"json": True}, "[" * 100_000, [False]),  # nested too deeply: a fail, not a crash
        ({"python_syntax": True}, "(" * 100_000, [False]),
    ],
)
def test_each_check_kind_passes_and_fails(spec, answer, expected):
    assert passed(spec, answer) == expected


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"contain": "x"}, 'unknown check "contain"'),
        ({"contains": 3}, 'check "contains" needs a string or a list of strings, not a number'),
        ({"contains": []}, 'check "contains" needs a string or a list of strings'),
        ({"regex": "("}, "regex '(' is not a valid regular expression"),
        ({"json": "yes"}, 'check "json" takes the value true'),
        (["contains"], "checks must be a JSON object"),
    ],
)
def test_a_check_that_cannot_be_understood_says_why(spec, reason):
    with pytest.raises(CheckError, match=None) as error:
        parse_checks(spec)
    assert reason in str(error.value)


def test_jsonl_suite_reads_every_field():
    lines = [
        {"id": "q1", "prompt": "Capital of France?", "checks": {"contains": "Paris", "not_contains": "Lyon"}},
        {"id": "q2", "prompt": "Write code", "system": "Be brief.", "max_tokens": 20},
    ]
    suite = parse_suite(("\n".join(json.dumps(x) for x in lines) + "\n\n").encode(), "s.jsonl", "jsonl")
    first, second = suite.prompts
    assert (first.id, first.prompt, first.system, first.max_tokens) == (
        "q1",
        "Capital of France?",
        None,
        None,
    )
    assert first.checks == (Check("contains", "Paris"), Check("not_contains", "Lyon"))
    assert (second.system, second.max_tokens, second.checks) == ("Be brief.", 20, ())


def test_csv_suite_reads_the_same_fields_with_checks_as_json_and_multi_line_cells(tmp_path):
    path = tmp_path / "suite.csv"
    path.write_text(
        "id,prompt,system,max_tokens,checks\n"
        'q1,"Two\nlines",,8,"{""regex"": ""^a""}"\n'
        "q2,Plain,Be brief.,,\n",
        encoding="utf-8",
    )
    first, second = load_suite(path).prompts
    assert (first.prompt, first.max_tokens, first.checks) == ("Two\nlines", 8, (Check("regex", "^a"),))
    assert (second.id, second.system, second.max_tokens, second.checks) == ("q2", "Be brief.", None, ())


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"\n', "s line 2: not valid JSON"),
        ("jsonl", '{"id": "a", "prompt": "x"}\n\n["a"]\n', "s line 3: each line must be a JSON object"),
        ("jsonl", '{"id": "a"}\n', 's line 1: "prompt" is missing or empty'),
        ("jsonl", '{"id": "a", "prompt": "x", "promt": "y"}\n', 's line 1: unknown field "promt"'),
        (
            "jsonl",
            '{"id": "a", "prompt": "x", "max_tokens": true}\n',
            's line 1: "max_tokens" must be a whole number',
        ),
        (
            "jsonl",
            '{"id": "a", "prompt": "x", "max_tokens": 0}\n',
            's line 1: "max_tokens" must be a whole number',
        ),
        (
            "jsonl",
            '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
            's line 2: id "a" is already used on line 1',
        ),
        (
            "jsonl",
            '{"id": "a", "prompt": "x", "checks": {"regex": "["}}\n',
            "s line 1: regex '[' is not a valid",
        ),
        ("jsonl", '{"id": "a", "prompt": "\\udcff"}\n', 's line 1: "prompt" holds a lone surrogate'),
        ("jsonl", "[" * 100_000 + "\n", "s line 1: not valid JSON (nested too deeply)"),
        ("jsonl", "\n\n", "s holds no prompts"),
        ("csv", "id,prompt,colour\na,b,c\n", 's line 1: unknown column "colour"'),
        ("csv", 'id,prompt\na,x\n"b,\ny\n', "s line 3: not valid CSV"),
        ("csv", "id,prompt\na,x\nb,y,z\n", "s line 3: more cells than the header has columns"),
        ("csv", "id,prompt,checks\na,x,{contains}\n", "s line 2: the checks cell must hold a JSON object"),
        ("csv", "id,prompt,max_tokens\na,x,many\n", "s line 2: max_tokens must be a whole number"),
        ("csv", 'id,prompt\na,"x\ny"\nb,\n', 's line 4: "prompt" is missing or empty'),
    ],
)
def test_a_malformed_suite_names_its_line_and_reason(kind, text, message):
    with pytest.raises(SuiteError) as error:
        parse_suite(text.encode(), "s", kind)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_suite_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "caf\xe9"}\n')
    with pytest.raises(SuiteError, match=r"s.jsonl line 2: not UTF-8 text \(byte 0xe9\)"):
        load_suite(path)


def test_a_suite_file_must_be_jsonl_or_csv_and_readable(tmp_path):
    with pytest.raises(SuiteError, match="a .jsonl or .csv file, not .txt"):
        load_suite(tmp_path / "prompts.txt")
    with pytest.raises(SuiteError, match="cannot read the prompt suite"):
        load_suite(tmp_path / "missing.jsonl")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(SuiteError, match="cannot read the prompt suite"):
        load_suite(tmp_path / "dir.csv")


def test_builtin_suite_has_short_and_long_code_and_prose_prompts_with_checks():
    suite = builtin_suite()
    assert 6 <= len(suite.prompts) <= 10
    lengths = sorted(len(p.prompt) for p in suite.prompts)
    assert lengths[0] < 100 and lengths[-1] > 1000
    kinds = {c.kind for p in suite.prompts for c in p.checks}
    assert {"contains", "json", "python_syntax"} <= kinds
    assert any(p.system for p in suite.prompts)


@pytest.mark.slow
def test_builtin_suite_has_a_prompt_near_the_demo_models_context():
    # The demo models' own tokenizer, trained exactly as the demo build trains it.
    from llm_compare.modelbuild.corpus import load_stdlib_documents, split_train_heldout
    from llm_compare.modelbuild.demo import RECIPES
    from llm_compare.modelbuild.tokenizer import train_bpe_tokenizer

    recipe = RECIPES["full"]
    train, _ = split_train_heldout(load_stdlib_documents(recipe.corpus_max_bytes), recipe.heldout_every)
    tokenizer = train_bpe_tokenizer((d.text for d in train), recipe.vocab_size)
    needed = {p.id: len(tokenizer.encode(p.prompt).ids) + p.max_tokens for p in builtin_suite().prompts}
    assert max(needed.values()) <= recipe.context_length, needed
    assert max(needed.values()) >= 0.9 * recipe.context_length, needed
