"""Services the UI and CLI call: discovery, configuration, inference. Never import streamlit."""
