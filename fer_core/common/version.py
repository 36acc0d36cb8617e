"""The package version, one source for the package metadata, --version and every provenance record."""

__version__ = "0.1.0"
