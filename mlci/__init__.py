"""mlci: continuous training for teams that own their NVIDIA GPU servers."""

__version__ = "0.1.0"
