"""Checks on an answer (promptfoo-style assertions): which kinds exist, how they parse, how they run.

A prompt's checks are one JSON object, e.g. {"contains": "def ", "python_syntax": true}. Each
key is a kind; a list of strings under a text kind is one check per string.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from llm_compare.core.errors import ConfigurationError

TEXT_KINDS = ("contains", "not_contains", "regex", "equals", "starts_with")
PARSE_KINDS = ("python_syntax", "json")
KINDS = TEXT_KINDS + PARSE_KINDS

# The code inside the first fenced block, so that "```python\n...\n```" answers are judged on the
# code, as a reader would.
_FENCED = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


class CheckError(ConfigurationError):
    """A check that cannot be understood: the message says which and why."""


@dataclass(frozen=True)
class Check:
    kind: str
    value: str | None = None  # the text or pattern of a text kind; None for a parse kind

    @property
    def label(self) -> str:
        return self.kind if self.value is None else f"{self.kind} {self.value!r}"


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    passed: bool


def parse_checks(spec: object) -> tuple[Check, ...]:
    """The checks of one prompt from their JSON object; CheckError names the bad entry."""
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise CheckError(
            f'checks must be a JSON object such as {{"contains": "Paris"}}, not {_json_type(spec)}'
        )
    checks = []
    for kind, value in spec.items():
        if kind in TEXT_KINDS:
            texts = value if isinstance(value, list) else [value]
            if not texts or not all(isinstance(t, str) for t in texts):
                raise CheckError(
                    f'check "{kind}" needs a string or a list of strings, not {_json_type(value)}'
                )
            for text in texts:
                if kind == "regex":
                    _compile(text)
                checks.append(Check(kind, text))
        elif kind in PARSE_KINDS:
            if value is not True:
                raise CheckError(f'check "{kind}" takes the value true, not {json.dumps(value)}')
            checks.append(Check(kind))
        else:
            raise CheckError(f'unknown check "{kind}"; known checks: {", ".join(KINDS)}')
    return tuple(checks)


def run_checks(checks: tuple[Check, ...], answer: str) -> tuple[CheckOutcome, ...]:
    return tuple(CheckOutcome(check, _passes(check, answer)) for check in checks)


def _passes(check: Check, answer: str) -> bool:
    kind, value = check.kind, check.value
    if kind == "contains":
        return value in answer
    if kind == "not_contains":
        return value not in answer
    if kind == "regex":
        return _compile(value).search(answer) is not None
    if kind == "equals":
        return answer.strip() == value.strip()
    if kind == "starts_with":
        return answer.lstrip().startswith(value)
    return _parses(kind, _code_of(answer))


def _parses(kind: str, text: str) -> bool:
    # A model's answer is untrusted text: any failure to parse (deep nesting included) is a fail.
    try:
        if kind == "python_syntax":
            ast.parse(text)
        else:
            json.loads(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _code_of(answer: str) -> str:
    fenced = _FENCED.search(answer)
    return fenced.group(1) if fenced else answer


def _compile(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CheckError(f"regex {pattern!r} is not a valid regular expression: {exc}") from None


def _json_type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
