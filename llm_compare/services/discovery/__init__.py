"""Finding models on disk and their settings: headers, folders, per-model configs, the demo build."""
