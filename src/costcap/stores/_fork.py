"""Stores that keep connections open forget them in a ``fork``-ed child and open their own.

A child of ``os.fork()`` (gunicorn ``--preload``, multiprocessing's "fork" start method) inherits
its parent's sockets. Two processes talking over one connection interleave their requests and
answers: calls hang or read each other's replies. Right after a fork, in the child, every tracked
store drops what it holds (:meth:`Forgetful._forget_inherited`) and opens anew on its next call.

What a child drops is kept referenced here for the rest of its life, never used nor closed:
closing a connection could send the server a goodbye on the parent's socket, and collecting it
could close it. The parent's own objects are untouched.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["Forgetful", "keep_inherited", "track"]


class Forgetful(Protocol):
    def _forget_inherited(self) -> None:
        """In a forked child: drop every connection (and lock) inherited from the parent. Runs
        inside ``fork()``: only attribute changes here, no I/O, nothing that can fail."""


_TRACKED: weakref.WeakSet[Forgetful] = weakref.WeakSet()
_INHERITED: list[object] = []


def track(store: Forgetful) -> None:
    """Have ``store`` forget its connections in every forked child (the store may be collected
    meanwhile: only a weak reference is held)."""
    _TRACKED.add(store)


def keep_inherited(thing: object) -> None:
    """Keep a parent's pool or client referenced, unused, in this child."""
    _INHERITED.append(thing)


def _after_fork_in_child() -> None:
    for store in list(_TRACKED):
        store._forget_inherited()


os.register_at_fork(after_in_child=_after_fork_in_child)
