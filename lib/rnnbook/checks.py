"""Argument checking shared by every layer.

Every public function of the library validates its inputs with
:class:`Shapes`, so that a wrong shape or dtype fails at the call with a
message that names the argument, the shape it got and the shape it needs,
instead of surfacing later as a puzzling broadcasting error.

Example::

    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    Wx = s.check("Wx", Wx, ("D", "H"))        # D must agree with x
    b = s.check("b", b, ("H",))
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]

Symbolic dimensions bind on first sight and must agree afterwards. An entry
may also be an integer or an expression string such as ``"4*H"``, evaluated
with the dimensions bound so far.
"""

from __future__ import annotations

import re

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_MULTIPLE = re.compile(r"^(\d+)\*([A-Za-z_]\w*)$")


def fmt_shape(shape) -> str:
    """A shape as Python writes a tuple: ``(3,)``, ``(2, 4)``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Shapes:
    """Bind symbolic dimensions across several arguments and check dtypes.

    All floating arguments checked by one ``Shapes`` must share one dtype
    (float32 or float64): results keep the input dtype, so mixing the two
    would silently promote or truncate.
    """

    def __init__(self, **known: int):
        self.dims: dict[str, int] = dict(known)
        self._source: dict[str, str] = {k: "the caller" for k in known}
        self.dtype: np.dtype | None = None
        self._dtype_source: str | None = None

    def __getitem__(self, name: str) -> int:
        return self.dims[name]

    def check(self, name: str, value, shape, *, dtype: str = "float"):
        """Return ``value`` as an ndarray after checking its shape and dtype.

        Args:
            name: the argument's name, used in error messages.
            value: the argument (array-like).
            shape: tuple of dimension specs: an int, a symbol ("N"), or a
                multiple of a symbol ("4*H").
            dtype: "float" (float32/float64, shared by all float arguments),
                "int" (any integer dtype), "bool", or "any".
        """
        if value is None:
            raise ValueError(f"{name} is None but needs an array of shape {self._describe(shape)}")
        arr = np.asarray(value)
        self._check_dtype(name, arr, dtype)
        if arr.ndim != len(shape):
            raise ValueError(
                f"{name} has shape {fmt_shape(arr.shape)} but needs {len(shape)} dimensions "
                f"{self._describe(shape)}"
            )
        for axis, (spec, got) in enumerate(zip(shape, arr.shape)):
            self._check_dim(name, arr.shape, shape, axis, spec, got)
        return arr

    # -- internals ---------------------------------------------------------
    def _describe(self, shape) -> str:
        names = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        try:
            values = tuple(self._expected(s) for s in shape)
        except KeyError:
            values = None
        if values is not None and any(not isinstance(s, int) for s in shape):
            return f"{names} = {fmt_shape(values)}"
        return names

    def _expected(self, spec):
        if isinstance(spec, (int, np.integer)):
            return int(spec)
        m = _MULTIPLE.match(spec)
        if m:
            return int(m.group(1)) * self.dims[m.group(2)]
        return self.dims[spec]

    def _check_dim(self, name, got_shape, shape, axis, spec, got):
        if isinstance(spec, str) and not _MULTIPLE.match(spec) and spec not in self.dims:
            self.dims[spec] = got
            self._source[spec] = name
            return
        if isinstance(spec, str) and _MULTIPLE.match(spec) and _MULTIPLE.match(spec).group(2) not in self.dims:
            factor, sym = int(_MULTIPLE.match(spec).group(1)), _MULTIPLE.match(spec).group(2)
            if got % factor:
                raise ValueError(
                    f"{name} has shape {fmt_shape(got_shape)} but axis {axis} must be a multiple of "
                    f"{factor} ({spec}), got {got}"
                )
            self.dims[sym] = got // factor
            self._source[sym] = name
            return
        want = self._expected(spec)
        if got != want:
            why = ""
            if isinstance(spec, str):
                sym = _MULTIPLE.match(spec).group(2) if _MULTIPLE.match(spec) else spec
                why = f" ({sym} = {self.dims[sym]} from {self._source[sym]})"
            raise ValueError(
                f"{name} has shape {fmt_shape(got_shape)} but needs {self._describe(shape)}{why}"
            )

    def _check_dtype(self, name, arr, kind):
        if kind == "any":
            return
        if kind == "int":
            if not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{name} has dtype {arr.dtype} but needs an integer dtype")
            return
        if kind == "bool":
            if arr.dtype != np.bool_:
                raise ValueError(f"{name} has dtype {arr.dtype} but needs dtype bool")
            return
        if arr.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name} has dtype {arr.dtype} but needs float32 or float64")
        if self.dtype is None:
            self.dtype, self._dtype_source = arr.dtype, name
        elif arr.dtype != self.dtype:
            raise ValueError(
                f"{name} has dtype {arr.dtype} but {self._dtype_source} has {self.dtype}; "
                f"pass all arrays in one dtype"
            )


def check_cache(name: str, cache, kind: type | tuple, fn: str):
    """Raise a clear error when a backward gets a cache from the wrong forward."""
    if not isinstance(cache, kind):
        raise ValueError(
            f"{name} is a {type(cache).__name__}, not the cache returned by {fn}"
        )
    return cache


def check_int(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int, or raise when it is not an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_choice(name: str, value, options):
    """Return ``value``, or raise when it is not one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} is {value!r} but needs one of {tuple(options)}")
    return value


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0); "
            f"got {type(rng).__name__}"
        )
    return rng


def check_int_sequence(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape} but needs one dimension (L,)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} has dtype {arr.dtype} but needs an integer dtype")
    return arr


def check_ids_below(ids: np.ndarray, size: int, name: str = "ids", what: str = "") -> np.ndarray:
    """Raise when an entry of the integer array ``ids`` lies outside ``[0, size)``.

    Args:
        ids: integer array of any shape.
        size: the vocabulary size V.
        name: the argument's name in the message.
        what: optional words after the range, e.g. ``" of W (V, D) = (5, 3)"``.

    Returns:
        ids, unchanged.
    """
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = ids[(ids < 0) | (ids >= size)].flat[0]
        raise ValueError(f"{name} contains {bad}, outside the vocabulary [0, {size}){what}")
    return ids


def check_ids(name: str, ids, size: int, shape, s: "Shapes") -> np.ndarray:
    """Check an id array's shape with ``s`` and its entries against ``size``; return it."""
    return check_ids_below(s.check(name, ids, shape, dtype="int"), size, name)


def check_upstream(name, value, shape, dtype, fn):
    """Check an upstream gradient against the shape and dtype of the forward pass."""
    arr = np.asarray(value)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {fmt_shape(arr.shape)} but needs {fmt_shape(tuple(shape))}, the shape "
            f"of the matching output of {fn}"
        )
    if arr.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {arr.dtype} but the forward pass ran in {dtype}; "
            f"pass all arrays in one dtype"
        )
    return arr


def check_steps(T):
    """Raise when a sequence has no time steps (T < 1)."""
    # A sequence of length zero has no hidden state to return and no step to
    # differentiate through; it is almost always a slicing mistake upstream.
    if T < 1:
        raise ValueError("x has T = 0 time steps but needs at least one")


def gate_columns(n_gates: int) -> str:
    """The column spec of weights with ``n_gates`` blocks: ``"H"``, ``"4*H"``, ..."""
    return "H" if n_gates == 1 else f"{n_gates}*H"


def check_cell_params(s: Shapes, n_gates: int, label: str = "{}", **params) -> tuple:
    """Check a recurrent cell's weights and biases, binding D and H in ``s``.

    The parameters are checked before any data array (call this first): a
    data array that disagrees with them is then the one named in the error,
    which is nearly always where the mistake is. ``Wh`` goes first because
    its rows give H without a division.

    Args:
        s: the :class:`Shapes` of the call.
        n_gates: k, the number of column blocks of the weights.
        label: how an argument is named in messages, ``label.format(name)``
            (e.g. ``"params[{!r}]"``).
        **params: ``Wx`` (D, kH) and ``Wh`` (H, kH), then each bias (kH,), by name.

    Returns:
        params: the checked arrays, a tuple in the order they were passed.
    """
    cols = gate_columns(n_gates)
    spec = {"Wx": ("D", cols), "Wh": ("H", cols)}
    checked = {name: s.check(label.format(name), params[name], spec[name])
               for name in ("Wh", "Wx")}
    for name, value in params.items():
        if name not in checked:
            checked[name] = s.check(label.format(name), value, (cols,))
    return tuple(checked[name] for name in params)


def check_cell_inputs(s: Shapes, x, *, sequence: bool = True, **states) -> tuple:
    """Check a cell's input and states after its parameters.

    Args:
        s: the :class:`Shapes` that checked the parameters.
        x: input, (N, T, D) for a sequence, (N, D) for one step.
        sequence: whether ``x`` is a whole sequence; it then needs T >= 1.
        **states: each state (``h0``, ``c0`` or ``h_prev``, ...), (N, H), by name.

    Returns:
        arrays: ``x`` and the states, checked, in the order they were passed.
    """
    x = s.check("x", x, ("N", "T", "D") if sequence else ("N", "D"))
    checked = tuple(s.check(name, value, ("N", "H")) for name, value in states.items())
    if sequence:
        check_steps(s["T"])
    return (x,) + checked
