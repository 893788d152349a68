"""Serving a local model as an OpenAI-compatible endpoint from the dashboard (`llm-compare serve` in a child process)."""
