"""What the product needs from the machine it runs on: its data folder, files written atomically,
the settings file, host names, signals and child processes. No model, no service logic."""
