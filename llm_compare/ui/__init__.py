"""Streamlit glue shared by the pages: session state, cached services, widgets, charts.

Besides pages/, this is the only package that imports streamlit. Modules here that do not
draw anything (settings, comparison, tables) import neither streamlit nor any backend."""
