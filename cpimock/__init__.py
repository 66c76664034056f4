"""cpimock: a local SAP Cloud Integration inbound endpoint with mTLS.

The public names: :class:`Message` (what iFlow steps receive) and the version. The testing
API lives in :mod:`cpimock.testing`.
"""

from cpimock._version import __version__
from cpimock.message import Message

__all__ = ["Message", "__version__"]
