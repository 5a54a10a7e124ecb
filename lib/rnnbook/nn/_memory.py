"""The C library's memory allocator, tuned for the large arrays of training.

Imported by :mod:`rnnbook.nn.kernels`; importing it calls
:func:`reuse_freed_memory` once, unless the environment variable
``RNNBOOK_MALLOC`` is ``default``.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__: list[str] = []  # a private module: rnnbook.nn.kernels imports it

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(mmap_threshold=32 * 2**20, trim_threshold=128 * 2**20):
    """Let glibc keep large freed blocks for reuse instead of returning them.

    By default glibc serves every block above about 128 KiB with a fresh
    ``mmap`` and hands it back to the operating system when it is freed, so
    each new array of that size is first touched page by page: one page
    fault per 4 KiB, which the kernel answers with a zeroed page. A training
    step allocates and frees the same large arrays over and over; measured
    on this book's 2-core machine, the faults alone were a third of an LSTM
    forward and backward pass at N = 16, T = 200, H = 64 (about 3000 faults
    per pass, 13.6 ms against 7.7 ms without them) and a quarter at N = 64,
    T = 100, H = 256. Raising the two thresholds keeps blocks up to
    ``mmap_threshold`` in the process heap and keeps up to
    ``trim_threshold`` bytes of freed heap for the next allocation; the
    peak memory of a run does not change.

    This module calls it once when it is imported (the fast kernels of
    :mod:`rnnbook.nn.kernels` import it), on Linux with glibc. Set
    the environment variable ``RNNBOOK_MALLOC=default`` before the import to
    keep the C library's own settings.

    Args:
        mmap_threshold: blocks of at most this many bytes come from the heap.
        trim_threshold: free bytes at the top of the heap kept for reuse.

    Returns:
        tuned: ``True`` when the C library accepted both settings, ``False``
            where it has no ``mallopt`` (not glibc) or refused them.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    return mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok


if os.environ.get("RNNBOOK_MALLOC", "tune") != "default":
    reuse_freed_memory()
