"""Configure: each selected model's generation and backend settings, saved per model."""

import streamlit as st

from llm_compare.core.models import ModelType
from llm_compare.services.discovery.config_manager import PRESETS
from llm_compare.ui import config_form as form
from llm_compare.ui import layout, session
from llm_compare.ui.errors import guard
from llm_compare.ui.text import code, literal

layout.page_entry()

st.title("Configure")
st.caption(
    "Settings are saved per model and used by every comparison. Each field's help (?) says what it does."
)

if not layout.need_selection("configure"):
    models = session.selected_models()
    manager = session.config_manager()
    specs = form.field_specs()
    tabs = st.tabs([literal(model.name) for model in models])
    for model, tab in zip(models, tabs):
        with tab, guard(f"The settings of {model.name}"):
            loaded = manager.load(model)
            form.load_into_state(model, loaded.config)
            values = form.draft(model)
            errors = form.form_errors(values)
            warnings = form.field_warnings(model, values)
            ignored = form.ignored_fields(model)

            st.markdown(layout.model_badges(model))
            st.caption(code(model.path))

            preset_col, status_col, save_col, reset_col, copy_col = st.columns(
                [3, 2, 1, 1, 2], vertical_alignment="bottom"
            )
            preset_col.selectbox(
                "Preset",
                list(PRESETS),
                index=None,
                key=f"cfg-preset:{model.id}",
                placeholder="Apply a preset…",
                on_change=form.apply_preset,
                args=(model,),
                help=form.PRESETS_HELP,
            )
            with status_col:
                label, color, icon = form.status(manager, model, values, errors)
                st.badge(label, icon=icon, color=color)
            save_col.button(
                "Save",
                key=f"cfg-save:{model.id}",
                type="primary",
                icon=":material/save:",
                width="stretch",
                on_click=form.save,
                args=(manager, model),
                disabled=bool(errors),
            )
            reset_col.button(
                "Reset",
                key=f"cfg-reset:{model.id}",
                icon=":material/restart_alt:",
                width="stretch",
                on_click=form.reset,
                args=(manager, model),
                help="Forget the saved settings and go back to the model's own defaults.",
            )
            copy_col.button(
                "Copy to all selected",
                key=f"cfg-copy:{model.id}",
                icon=":material/content_copy:",
                width="stretch",
                on_click=form.copy_to_all,
                args=(manager, model, models),
                disabled=bool(errors) or len(models) < 2,
                help=form.COPY_HELP,
            )
            if model.type == ModelType.PYTORCH:
                st.button(
                    "Apply the checkpoint's recommended settings",
                    key=f"cfg-checkpoint:{model.id}",
                    icon=":material/tune:",
                    on_click=form.apply_checkpoint_recommendation,
                    args=(model,),
                    help=form.CHECKPOINT_HELP,
                )
            form.show_flash(model)
            for warning in loaded.warnings(model.name):  # the file stays as it is until a Save
                st.warning(literal(warning), icon=":material/warning:")

            used = [s for s in specs if s.name not in ignored]
            form.draw_fields(model, [s for s in used if not s.wide], errors, warnings, per_row=3)
            form.draw_fields(model, [s for s in used if s.wide], errors, warnings, per_row=2)
            if ignored:
                with st.expander(
                    f"Ignored by the {form.BACKEND_NAMES[model.type]} backend ({len(ignored)})",
                    icon=":material/block:",
                ):
                    form.draw_fields(
                        model,
                        [s for s in specs if s.name in ignored],
                        errors,
                        {},
                        per_row=3,
                        disabled=True,
                        notes=ignored,
                    )
