"""Simpul: network-node software for a regency's Diskominfo gateway."""

__version__ = "0.1.0"
