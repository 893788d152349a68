"""Quality beside speed: likelihood scores, divergence, blind votes and ratings, the frontier."""
