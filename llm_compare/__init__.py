"""llm-compare: run local language models side by side and measure them honestly."""

__version__ = "0.1.0"
