"""Parsers from captured text (as the commands print it) to facts. No I/O happens here."""
