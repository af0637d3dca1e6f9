"""Events and runs."""
