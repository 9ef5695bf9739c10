"""Child processes that die with their parent: the embedded Redis and the worker processes.

Without this, a hub killed with SIGKILL (or by the OOM killer) leaves its children running: an
orphaned worker would go on delivering queues against the Redis of the next hub started on the
same data dir.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def parent_death_signal(parent: int, sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A function that, called in a child of ``parent``, makes the child get ``sig`` when the
    parent dies, even by SIGKILL, and exits at once if the parent is gone already.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere None, and children outlive a killed
    parent. libc is resolved here, before any fork, so that the function is safe as a
    ``subprocess.Popen`` ``preexec_fn``, where loading a library could deadlock. Linux sends the
    signal when the *thread* that started the child ends: start children from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def tie() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        # The parent may have died before prctl; then no signal would ever come.
        if os.getppid() != parent:
            os._exit(1)

    return tie
