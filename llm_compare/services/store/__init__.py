"""Keeping every run: the SQLite run store, its migrations and exports."""
