"""Facts, profiles, checks and evidence for the GPU server acceptance suite (pytest-free)."""

__version__ = "0.1.0"
