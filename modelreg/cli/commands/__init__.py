"""One module per group of commands; each command is a thin layer: parse, call, render."""
