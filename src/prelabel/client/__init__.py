"""Placeholder replaced by the SDK."""

from __future__ import annotations


class PrelabelAPIError(Exception):
    pass


class Client:
    pass
