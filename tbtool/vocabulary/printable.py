"""Names from files, made safe to print on a terminal.

Run names, tags and file names come from files anyone can write. Printed raw, an escape
sequence in a tag can retitle the window or clear the screen, a newline can forge a line of
``dump`` output, and a bidirectional override can make text read differently than it is.
Text output therefore shows every character Python does not call printable (controls,
format characters, line and paragraph separators) as its escape: ``\\n``, ``\\x1b``,
``\\u202e``. JSON output needs none of this: JSON escapes them itself.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with each non-printable character replaced by its escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
