"""Readers, tables and frames."""
