"""Typed values."""
