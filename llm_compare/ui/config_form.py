"""The per-model settings form, drawn from ModelConfig's JSON schema: one widget per field, of
the kind the schema gives, its title as label, its name and description as help, errors beside
the field. Ranges are checked here, not by the widgets: a number box given bounds refuses an
out-of-range entry in the browser without a word and keeps the old value."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from llm_compare.core.config import GENERATION_FIELDS, ModelConfig, field_errors
from llm_compare.core.errors import LLMCompareError
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.inferencers import endpoint_settings
from llm_compare.inferencers.gguf import GGUFInferencer  # light: backends import torch / llama_cpp lazily
from llm_compare.inferencers.pytorch import PyTorchInferencer
from llm_compare.services.discovery.config_manager import PRESETS, ConfigManager
from llm_compare.services.discovery.hf_folder import (
    GENERATION_CONFIG_FILE,
    HFFolderError,
    checkpoint_recommendation,
)
from llm_compare.ui.errors import show_error
from llm_compare.ui.text import literal

IGNORED_FIELDS: dict[ModelType, dict[str, str]] = {
    ModelType.PYTORCH: PyTorchInferencer.ignored_fields,
    ModelType.GGUF: GGUFInferencer.ignored_fields,
}
BACKEND_NAMES = {ModelType.PYTORCH: "PyTorch", ModelType.GGUF: "GGUF", ModelType.OPENAI: "HTTP endpoint"}


def ignored_fields(model: ModelInfo) -> dict[str, str]:
    """The settings this model's backend does not honour, with why; for an endpoint they depend
    on the kind of server found when its models were listed."""
    if model.is_endpoint:
        return endpoint_settings.ignored_for(model.metadata.server_kind)
    return IGNORED_FIELDS.get(model.type, {})


PRESETS_HELP = "Sets the sampling fields. " + "; ".join(
    f"**{name}**: " + ", ".join(f"{field} {value}" for field, value in values.items())
    for name, values in PRESETS.items()
)
SLIDER_MAX_SPAN = 2.0  # floats with a range this small get a slider, wider ones a number box
FLOAT_STEP = 0.01


@dataclass(frozen=True)
class FieldSpec:
    """What the form needs to know about one ModelConfig field, read from the JSON schema."""

    name: str
    label: str  # the field's title in ModelConfig: what a person reads; `name` stays in the help
    kind: str  # float | int | optional_int | int_or_auto | choice | bool | text | lines
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    options: tuple[str, ...] = ()
    max_length: int | None = None

    @property
    def wide(self) -> bool:
        return self.kind in ("text", "lines")

    @property
    def help(self) -> str:
        return f"`{self.name}` — {self.description}"


@functools.cache
def field_specs() -> tuple[FieldSpec, ...]:
    schema = ModelConfig.model_json_schema()
    return tuple(_spec(name, prop) for name, prop in schema["properties"].items())


def _spec(name: str, prop: dict[str, Any]) -> FieldSpec:
    label, description = prop["title"], prop.get("description", "")  # every field has a title
    variants = prop.get("anyOf")
    if variants and {"const": "auto", "type": "string"} in variants:  # int | "auto": one text field
        typed = next(v for v in variants if v.get("type") == "integer")
        return FieldSpec(name, label, "int_or_auto", description, typed.get("minimum"), typed.get("maximum"))
    if variants:  # Optional[...]: the non-null variant carries the range
        typed = next(v for v in variants if v.get("type") != "null")
        if typed.get("type") != "integer":
            raise TypeError(f"no widget for optional {typed.get('type')} field {name}")
        return FieldSpec(name, label, "optional_int", description, typed.get("minimum"), typed.get("maximum"))
    kind = prop.get("type")
    if "enum" in prop:
        return FieldSpec(name, label, "choice", description, options=tuple(prop["enum"]))
    if kind == "boolean":
        return FieldSpec(name, label, "bool", description)
    if kind == "string":
        return FieldSpec(name, label, "text", description, max_length=prop.get("maxLength"))
    if kind == "array":
        return FieldSpec(
            name,
            label,
            "lines",
            description + " One per line; write \\n for a newline.",
            max_length=prop.get("maxItems"),
        )
    if kind in ("number", "integer"):
        exclusive = "exclusiveMinimum" in prop
        minimum = prop.get("exclusiveMinimum", prop.get("minimum"))
        return FieldSpec(
            name,
            label,
            "float" if kind == "number" else "int",
            description,
            minimum,
            prop.get("maximum"),
            exclusive,
        )
    raise TypeError(f"no widget for field {name} of type {kind}")


# --- values: config <-> widget state ------------------------------------------------------------


def to_widget(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "lines":
        return "\n".join(_escape(s) for s in value)
    if spec.kind == "int_or_auto":
        return str(value)
    return value


def from_widget(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "int_or_auto":  # "auto", or a whole number; anything else stays text to be refused
        text = (value or "").strip() or "auto"  # empty shows the placeholder, auto
        try:
            return int(text)
        except ValueError:
            return text.lower() if text.lower() == "auto" else text
    if spec.kind == "lines":
        return [_unescape(line) for line in (value or "").splitlines() if line != ""]
    if spec.kind == "float" and value is not None:
        return round(float(value), 6)  # sliders hand back 0.7000000000000001
    return value


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def widget_key(model: ModelInfo, name: str) -> str:
    return f"cfg:{model.id}:{name}"


def load_into_state(model: ModelInfo, config: ModelConfig, overwrite: bool = False) -> None:
    """Put `config` into the model's widgets (only the missing ones unless `overwrite`)."""
    values = config.model_dump()
    for spec in field_specs():
        key = widget_key(model, spec.name)
        if overwrite or key not in st.session_state:
            st.session_state[key] = to_widget(spec, values[spec.name])


def draft(model: ModelInfo) -> dict[str, Any]:
    """The values now in the model's widgets, as ModelConfig fields (maybe invalid)."""
    return {
        spec.name: from_widget(spec, st.session_state.get(widget_key(model, spec.name)))
        for spec in field_specs()
    }


def form_errors(values: dict[str, Any]) -> dict[str, str]:
    """ModelConfig's per-field messages for `values`; a number out of its range is told the
    whole range, as the widget no longer holds it."""
    errors = field_errors(values)
    by_name = {spec.name: spec for spec in field_specs()}
    for name in errors:
        if name in by_name and (message := _range_message(by_name[name], values.get(name))):
            errors[name] = message
    return errors


def _range_message(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if spec.minimum is None or spec.maximum is None:
        return None
    below = value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum
    if not below and value <= spec.maximum:
        return None
    low, high = _plain(spec.minimum), _plain(spec.maximum)
    span = f"more than {low} and at most {high}" if spec.exclusive_minimum else f"between {low} and {high}"
    return f"must be {span}{', or auto' if spec.kind == 'int_or_auto' else ''} (got {value})"


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def labels(names: Iterable[str]) -> str:
    by_name = {spec.name: spec.label for spec in field_specs()}
    return ", ".join(by_name.get(name, name) for name in names)


def field_warnings(model: ModelInfo, values: dict[str, Any]) -> dict[str, str]:
    """Valid but doubtful values for this model, from its metadata."""
    context = model.metadata.context_length
    warnings = {}
    if context and isinstance(values.get("max_tokens"), int) and values["max_tokens"] > context:
        warnings["max_tokens"] = (
            f"more than this model's context length ({context}): the answer will stop earlier"
        )
    if (
        context
        and model.type == ModelType.GGUF
        and isinstance(values.get("n_ctx"), int)
        and values["n_ctx"] > context
    ):
        warnings["n_ctx"] = f"more than the model was trained for ({context}): quality may drop past that"
    return warnings


def status(
    manager: ConfigManager, model: ModelInfo, values: dict[str, Any], errors: dict[str, str]
) -> tuple[str, str, str]:
    """(label, colour, icon) of a badge saying where the form stands against what is saved."""
    if errors:
        return f"{len(errors)} invalid", "red", ":material/error:"
    loaded = manager.load(model)
    if values != loaded.config.model_dump():
        return "Unsaved changes", "orange", ":material/edit:"
    if loaded.problem:
        return "Saved file not used", "orange", ":material/warning:"
    if loaded.dropped:
        return "Saved, in part", "orange", ":material/warning:"
    if manager.has_saved(model):
        return "Saved", "green", ":material/check:"
    return "Model defaults", "gray", ":material/check:"


# --- actions (widget callbacks: they run before the page draws, so they may change widgets) ----


def _flash(model: ModelInfo, kind: str, message: str) -> None:
    st.session_state[f"cfg-flash:{model.id}"] = (kind, message)


def show_flash(model: ModelInfo) -> None:
    kind, message = st.session_state.pop(f"cfg-flash:{model.id}", (None, None))
    if kind == "success":
        st.success(literal(message), icon=":material/check_circle:")
    elif kind == "error":
        show_error(message)


def _guarded(model: ModelInfo, action: Callable[[], str]) -> None:
    try:
        _flash(model, "success", action())
    except LLMCompareError as exc:
        _flash(model, "error", str(exc))
    except OSError as exc:
        _flash(model, "error", f"could not write the settings file: {exc}")


def save(manager: ConfigManager, model: ModelInfo) -> None:
    def action() -> str:
        errors = form_errors(draft(model))
        if errors:
            raise _FormError(f"not saved: fix {labels(errors)} first")
        manager.save(model, ModelConfig.parse(draft(model)))
        return "Saved. Comparisons use these settings from now on."

    _guarded(model, action)


def reset(manager: ConfigManager, model: ModelInfo) -> None:
    def action() -> str:
        load_into_state(model, manager.reset(model), overwrite=True)
        return "Reset to the model's own defaults."

    _guarded(model, action)


COPY_HELP = (
    "Save these settings for this model, and copy its generation settings ("
    + ", ".join(f"`{name}`" for name in GENERATION_FIELDS)
    + ") to every other selected model. Load settings and `trust_remote_code` are never copied:"
    " each model keeps its own."
)


def copy_to_all(manager: ConfigManager, model: ModelInfo, models: list[ModelInfo]) -> None:
    def action() -> str:
        errors = form_errors(draft(model))
        if errors:
            raise _FormError(f"not copied: fix {labels(errors)} first")
        config = ModelConfig.parse(draft(model))
        manager.save(model, config)
        others = [other for other in models if other.id != model.id]
        copied = manager.copy_to_all(config, others)
        for other in others:
            load_into_state(other, copied[other.id], overwrite=True)
        return (
            f"Saved, and copied the generation settings to the {len(others)} other selected"
            f" model{'s' if len(others) != 1 else ''} (their load and security settings are unchanged)."
        )

    _guarded(model, action)


def _set_fields(model: ModelInfo, values: dict[str, Any]) -> None:
    by_name = {spec.name: spec for spec in field_specs()}
    for field, value in values.items():
        st.session_state[widget_key(model, field)] = to_widget(by_name[field], value)


def apply_preset(model: ModelInfo) -> None:
    key = f"cfg-preset:{model.id}"
    name = st.session_state.get(key)
    if name in PRESETS:
        _set_fields(model, PRESETS[name])
        _flash(model, "success", f"Applied the {name} preset (not saved yet).")
    st.session_state[key] = None


CHECKPOINT_HELP = (
    f"Set the settings the checkpoint's {GENERATION_CONFIG_FILE} recommends (not saved yet). Generation"
    " never applies that file on its own, on any backend: only its end tokens are used."
)


def apply_checkpoint_recommendation(model: ModelInfo) -> None:
    try:
        recommended = checkpoint_recommendation(model.path)
    except HFFolderError as exc:
        _flash(model, "error", str(exc))
        return
    _set_fields(model, recommended.settings)
    applied = ", ".join(f"{field} {value}" for field, value in recommended.settings.items())
    message = (
        f"Applied the checkpoint's recommended settings (not saved yet): {applied}."
        if applied
        else "The checkpoint recommends no setting that exists here."
    )
    if recommended.unmapped:
        reasons = "; ".join(f"{key}: {why}" for key, why in recommended.unmapped.items())
        message += f" Not applied: {reasons}."
    _flash(model, "success", message)


class _FormError(LLMCompareError):
    pass


# --- drawing ------------------------------------------------------------------------------------


def draw_fields(
    model: ModelInfo,
    specs: list[FieldSpec],
    errors: dict[str, str],
    warnings: dict[str, str],
    per_row: int,
    disabled: bool = False,
    notes: dict[str, str] | None = None,
) -> None:
    """The fields in rows of `per_row` (a row per st.columns, so an error box never shifts a
    neighbouring column's fields out of line)."""
    for start in range(0, len(specs), per_row):
        for column, spec in zip(st.columns(per_row), specs[start : start + per_row]):
            with column:
                draw_field(model, spec, errors.get(spec.name), warnings.get(spec.name), disabled)
                if notes:
                    st.caption(literal(notes[spec.name]))


def draw_field(
    model: ModelInfo, spec: FieldSpec, error: str | None, warning: str | None, disabled: bool = False
) -> None:
    key, label, help_text = widget_key(model, spec.name), spec.label, spec.help
    if (
        spec.kind == "float"
        and spec.minimum is not None
        and spec.maximum is not None
        and spec.maximum - spec.minimum <= SLIDER_MAX_SPAN
    ):
        low = spec.minimum + FLOAT_STEP if spec.exclusive_minimum else spec.minimum
        st.slider(
            label,
            float(low),
            float(spec.maximum),
            step=FLOAT_STEP,
            key=key,
            help=help_text,
            disabled=disabled,
        )
    elif spec.kind == "float":
        # No bounds on number boxes: form_errors says what is out of range (see the module's doc).
        st.number_input(label, step=FLOAT_STEP * 5, key=key, help=help_text, disabled=disabled)
    elif spec.kind == "int":
        st.number_input(label, step=1, key=key, help=help_text, disabled=disabled)
    elif spec.kind == "optional_int":
        st.number_input(
            label,
            value=None,
            step=1,
            key=key,
            help=help_text,
            placeholder="unset",
            disabled=disabled,
        )
    elif spec.kind == "int_or_auto":
        st.text_input(
            label,
            key=key,
            help=f"{help_text} Type auto (or leave it empty) or a whole number from {_int(spec.minimum)} "
            f"to {_int(spec.maximum)}.",
            placeholder="auto",
            disabled=disabled,
        )
    elif spec.kind == "choice":
        st.selectbox(label, spec.options, key=key, help=help_text, disabled=disabled)
    elif spec.kind == "bool":
        st.space("small")
        st.toggle(label, key=key, help=help_text, disabled=disabled)
    elif spec.kind == "text":
        st.text_area(
            label,
            key=key,
            help=help_text,
            max_chars=spec.max_length,
            height=110,
            disabled=disabled,
            placeholder="none",
        )
    elif spec.kind == "lines":
        st.text_area(label, key=key, help=help_text, height=110, disabled=disabled, placeholder="none")
    if error:
        st.error(
            f"**{literal(spec.label)}**: {literal(error)}", icon=":material/error:"
        )  # error quotes the input
    elif warning:
        st.caption(f":orange[:material/warning: {literal(warning)}]")


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
