"""Words users type and read, shared by every layer: the bottom of the house.

- ``kinds``: kind names, singular or plural, as commands and readers take them.
- ``byte_size``: byte sizes as users write them (``500MB``, ``1.5GiB``).
- ``duration``: durations as users write them (``90s``, ``15m``, ``30d``).
- ``printable``: names from files made safe to print on a terminal.
"""
