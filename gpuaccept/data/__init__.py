"""Tables taken from public sources, each with its source in its docstring."""
