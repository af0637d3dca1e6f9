"""``python -m tbtool``."""

from tbtool.cli import main

main()
