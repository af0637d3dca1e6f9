"""Kind names as users spell them: singular or plural, whatever the command calls them.

contract.md names kinds in the singular (``scalar``, ``histogram``:
:data:`tbtool.values.typed.KINDS`); export tables and synth's kinds are plural (``scalars``,
``histograms``). Every place that takes kind names accepts both spellings and answers in its
own, with one error for anything else, so ``dump --kind scalars`` and ``export --kind
scalar`` both work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tbtool.errors import UsageError, not_one_of

#: Singular -> plural, for kinds whose two spellings differ.
PLURALS = {
    "scalar": "scalars",
    "histogram": "histograms",
    "image": "images",
    "tensor": "tensors",
    "pr_curve": "pr_curves",
    "mesh": "meshes",
    "graph": "graphs",
    "session_log": "session_logs",
    "file_version": "file_versions",
    "log_message": "log_messages",
}
_SINGULARS = {plural: singular for singular, plural in PLURALS.items()}


def kind_names(names: Iterable[str], choices: Sequence[str]) -> list[str]:
    """``names`` as ``choices`` spell them (each may be singular or plural), in the order
    given, without repeats; :class:`UsageError` naming the choices for any other name."""
    found: list[str] = []
    for name in names:
        key = name.strip()
        spellings = (key, PLURALS.get(key), _SINGULARS.get(key))
        match = next((s for s in spellings if s is not None and s in choices), None)
        if match is None:
            raise UsageError(not_one_of(key, choices, "unknown kind: "))
        if match not in found:
            found.append(match)
    return found
