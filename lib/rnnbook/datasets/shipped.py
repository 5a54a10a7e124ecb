"""Where the data files that ship with the package live (see ``files/PROVENANCE.md``)."""

from __future__ import annotations

from importlib import resources

__all__ = ['shipped_file']


def shipped_file(filename: str):
    """The shipped data file ``filename`` as an ``importlib.resources`` Traversable.

    Args:
        filename: the name of a file in the folder ``files`` of this
            subpackage, for example ``sunspots.csv``.

    Returns:
        path: an ``importlib.resources`` Traversable (it has ``open`` and
            ``read_text``).

    Taught in: Chapter 2, Backpropagation through time.
    """
    return resources.files("rnnbook.datasets").joinpath("files", filename)
