"""Quality beside speed: likelihood scores of models on a text, and divergence from a reference."""
