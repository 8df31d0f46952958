"""The `framing` command line: one module per command, over plain functions."""
