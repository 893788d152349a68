"""OpenAI-compatible endpoints: the saved list, their models beside the local ones, their health."""
