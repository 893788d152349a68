"""The browser tab's icon needs no network: an emoji, never a :material/ icon (which the browser
fetches from a font server) nor a URL."""

import streamlit as st
from dashboard_testing import no_exception
from streamlit.string_util import is_emoji


def test_the_page_icon_is_an_emoji_drawn_offline(make_app, empty_dir, monkeypatch):
    configs = []
    real = st.set_page_config

    def recording(*args, **kwargs):
        configs.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "set_page_config", recording)
    at = make_app(empty_dir)
    no_exception(at)
    assert configs, "the app sets its page config"
    for config in configs:
        icon = config.get("page_icon")
        assert isinstance(icon, str) and is_emoji(icon), icon
        assert ":material/" not in icon and "://" not in icon
