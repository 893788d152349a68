"""Models the dashboard serves as OpenAI-compatible endpoints, each through `llm-compare serve` in a
child process."""
