"""Support for tests and scripts that drive the real dashboard (needs the dev extra: playwright)."""
