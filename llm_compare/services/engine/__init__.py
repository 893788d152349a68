"""Running models: the engine, its worker processes, memory budget, CPU load and comparisons."""
