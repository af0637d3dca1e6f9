"""Words users type and read."""
