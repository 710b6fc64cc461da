"""cryopick: positive-unlabelled particle picking for cryo-EM micrographs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cryopick")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
