"""brusim: agent-based simulation of street drug markets and police deployment in Brussels."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brusim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
