"""Names of places: local paths and URLs, told apart, joined, split and compared.

Pure string and ``os.path`` logic (symlinks resolved only by :func:`within`): no filesystem
package is imported here, so a caller that only handles names pays nothing for fsspec.
"""

from __future__ import annotations

import os
import re
from typing import Any

#: ``scheme://`` (or a chain ``a::b://``) at the start of a string: a URL, not a path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*://")


def is_url(path: Any) -> bool:
    """Is ``path`` a URL (``scheme://...``) rather than a local path?"""
    return isinstance(path, str) and "://" in path and _URL.match(path) is not None


def protocol(url: str) -> str:
    """The outermost protocol of a URL (``s3`` for ``simplecache::s3://b/k``)."""
    head = url.split("://", 1)[0]
    return head.rsplit("::", 1)[-1].lower()


# -- joining and comparing ---------------------------------------------------------------------
def trim(url: str) -> str:
    """A URL without trailing slashes (but ``memory://`` stays whole)."""
    stripped = url.rstrip("/")
    return stripped if not stripped.endswith(":") else stripped + "//"


def join(base: str, *names: str) -> str:
    """``os.path.join`` for paths, ``/``-joining for URLs."""
    if not is_url(base):
        return os.path.join(base, *names)
    base = trim(base)
    sep = "" if base.endswith("/") else "/"
    return base + sep + "/".join(n.strip("/") for n in names if n)


def parent(path: str) -> str:
    """The directory (key prefix) holding ``path``."""
    if not is_url(path):
        return os.path.dirname(path)
    trimmed = trim(path)
    head, _, tail = trimmed.rpartition("/")
    if head.endswith(":/"):  # scheme://name: the parent is the root
        return head + "/"
    return head if tail else trimmed


def basename(path: str) -> str:
    if not is_url(path):
        return os.path.basename(path)
    return trim(path).rsplit("/", 1)[-1]


def relative(path: str, top: str) -> str:
    """``path`` relative to ``top`` with ``/`` separators (``.`` for ``top`` itself)."""
    if not is_url(path):
        return os.path.relpath(path, top).replace(os.sep, "/")
    path, top = trim(path), trim(top)
    if path == top:
        return "."
    prefix = top if top.endswith("/") else top + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not below {top}")
    return path[len(prefix) :]


def inside(path: str, root: str) -> bool:
    """Is the URL ``path`` the URL ``root`` or below it? (No symlinks in object stores.)"""
    path, root = trim(path), trim(root)
    return path == root or path.startswith(root if root.endswith("/") else root + "/")


def within(path: str, root: str) -> bool:
    """Is ``path`` the same as ``root`` or below it? Local paths are compared after resolving
    symlinks (``path`` need not exist yet), URLs by prefix; a local path and a URL never are."""
    if is_url(path) or is_url(root):
        return is_url(path) and is_url(root) and inside(path, root)
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def overlaps(a: str, b: str) -> bool:
    """Is one of ``a`` and ``b`` the other, or inside it (:func:`within`)?"""
    return within(a, b) or within(b, a)
