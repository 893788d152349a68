"""Quality beside speed: likelihood scores on a text, divergence from a reference, blind votes and
ratings, and the speed–quality frontier."""
