"""The `corridor` command: a thin layer of parsing and printing over `model` and `analysis`."""
