"""Synthetic logdirs."""
