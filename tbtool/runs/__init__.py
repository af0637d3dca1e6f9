"""Events and runs: event files as ``Event`` s, logdirs as runs, and what restarts erase.

- ``logdir``: finding runs and their event files, in TensorBoard's read order.
- ``events``: the events of one event file, with where each lies; how a file's read ended.
- ``purge``: purge semantics: which values a ``SessionLog`` START erases.
- ``damage``: what is wrong with a damaged file, in ``tbtool validate``'s words.
"""
