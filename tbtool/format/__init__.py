"""The file format."""
