"""cpimock: a local SAP Cloud Integration inbound endpoint with mTLS."""

from cpimock._version import __version__

__all__ = ["__version__"]
