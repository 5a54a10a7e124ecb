"""Call a student's functions on given inputs and keep only plain arrays.

This module runs in two places with the same code:

* inside the grading kernel, where the grader sends its source text and
  calls :func:`main` after the submission's cells have run (it is not
  imported from ``rnnbook`` there, since the library is replaced by stubs in
  the grading kernel);
* in the student's own process, where :func:`rnnbook.grading.check` calls
  :func:`run_question` directly.

It depends on numpy and the standard library only. Everything a student's
function returns is turned into a fresh float64 ndarray of a plain type
(``np.array(value, dtype=float64)`` never keeps a subclass) together with a
short description of the original (dtype, shape); anything else is recorded
as a problem. Exceptions become a type name and the first line of the
message. The grader compares nothing here: it only reads the arrays back.
"""

import json

import numpy as np

#: Largest number of entries accepted for one returned array.
MAX_ELEMENTS = 1_000_000
#: Longest piece of text (type names, exception messages) passed back.
MAX_TEXT = 200


def clean_text(value, limit=MAX_TEXT):
    """First line of ``str(value)``, printable characters only, at most ``limit`` long."""
    try:
        text = str(value)
    except Exception:  # a hostile __str__
        return "?"
    lines = text.strip().splitlines()
    text = lines[0] if lines else ""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value):
    try:
        return clean_text(type(value).__name__, 60)
    except Exception:
        return "?"


def describe_exception(exc):
    """A small dict describing an exception raised by the student's code."""
    if isinstance(exc, NotImplementedError):
        return {"status": "notimpl"}
    return {"status": "error", "type": _type_name(exc), "message": clean_text(exc)}


def to_plain_array(value):
    """Return ``(array, info)``: a fresh float64 ndarray (or None) and a description.

    ``info`` holds ``dtype`` and ``shape`` of the value as returned, or
    ``problem``, a phrase saying why it is not a usable array.
    """
    if value is None:
        return None, {"problem": "is None (a missing return?)"}
    if isinstance(value, (str, bytes, dict, set)):
        return None, {"problem": f"is a {_type_name(value)}, not an array"}
    try:
        arr = np.asarray(value)
        kind = arr.dtype.kind
        dtype = clean_text(arr.dtype.name, 40)
        shape = [int(n) for n in arr.shape]
    except Exception as exc:
        return None, {"problem": f"is a {_type_name(value)} that numpy cannot read as an array "
                                 f"({clean_text(exc, 80)})"}
    if kind not in "biuf":
        return None, {"problem": f"is a {_type_name(value)} with dtype {dtype}, not numbers"}
    if arr.size > MAX_ELEMENTS:
        return None, {"problem": f"has {arr.size} entries, far more than expected"}
    try:
        plain = np.array(arr, dtype=np.float64, copy=True, subok=False, order="C")
    except Exception as exc:
        return None, {"problem": f"could not be converted to float64 ({clean_text(exc, 80)})"}
    if type(plain) is not np.ndarray:
        return None, {"problem": f"is a {_type_name(value)}, not a plain array"}
    return plain, {"dtype": dtype, "shape": shape, "type": _type_name(value)}


def _tuple_of(result, n, what):
    """Check that ``result`` is a tuple (or list) of length ``n``; return a problem or None."""
    if not isinstance(result, (tuple, list)):
        return f"returned a {_type_name(result)}, but should return a tuple {what}"
    if len(result) != n:
        return f"returned a tuple of {len(result)} values, but should return {n}: {what}"
    return None


def _arg(arrays, spec):
    kind, key = spec
    value = arrays[key]
    if kind == "f":
        return float(value)
    # A fresh copy for every call: a function that modifies its inputs in
    # place must not change what later calls see.
    return np.array(value, copy=True)


def _call_case(ns, manifest, case, arrays):
    """Run one case; return (outputs list or None, status dict)."""
    kind = manifest["kind"]
    n = manifest["n_outputs"]
    fn = ns.get(manifest["function"])
    names = ", ".join(manifest["outputs"])
    args = [_arg(arrays, spec) for spec in case["args"]]
    if kind == "forward":
        result = fn(*args)
        problem = _tuple_of(result, n + 1, f"({names}, cache)")
        if problem:
            return None, {"status": "bad_return", "message": problem}
        return list(result[:n]), {"status": "ok"}
    if kind == "plain":
        return [fn(*args)], {"status": "ok"}
    if kind == "backward":
        forward = ns.get(manifest["forward"])
        try:
            fres = forward(*args)
        except (Exception, SystemExit) as exc:
            info = describe_exception(exc)
            if info["status"] == "notimpl":
                return None, {"status": "forward_failed",
                              "message": f"{manifest['forward']} is not implemented yet, and its "
                                         f"cache is needed"}
            return None, {"status": "forward_failed",
                          "message": f"{manifest['forward']} raised {info['type']}: "
                                     f"{info['message']}"}
        if not isinstance(fres, (tuple, list)) or len(fres) < 2:
            return None, {"status": "forward_failed",
                          "message": f"{manifest['forward']} did not return a tuple ending "
                                     f"with a cache"}
        upstream = [_arg(arrays, spec) for spec in case["upstream"]]
        result = fn(*upstream, fres[-1])
        problem = _tuple_of(result, n, f"({names})")
        if problem:
            return None, {"status": "bad_return", "message": problem}
        return list(result), {"status": "ok"}
    if kind == "clip":
        keys = case["keys"]
        grads = dict(zip(keys, args[:-1]))
        norm = fn(grads, args[-1])
        outs = [norm]
        for key in keys:
            outs.append(grads.get(key) if isinstance(grads, dict) else None)
        return outs, {"status": "ok"}
    raise ValueError(f"unknown question kind {kind!r}")


def run_question(ns, manifest, arrays):
    """Call the function ``manifest['function']`` from namespace ``ns`` on every case.

    Args:
        ns: dict-like namespace holding the student's functions.
        manifest: the question's description made by the grader (function
            name, kind, number of outputs, and for each case the keys of
            its arrays in ``arrays``).
        arrays: mapping from key to ndarray.

    Returns:
        ``(out_arrays, meta)``: ``out_arrays`` maps ``"c{case}_o{k}"`` to a
        float64 ndarray; ``meta`` is a JSON-able dict with the ``status`` of
        the function and, per case, a ``status`` and a description of every
        output.
    """
    out_arrays = {}
    meta = {"status": "ok", "cases": []}
    needed = [manifest["function"]] + ([manifest["forward"]] if manifest.get("forward") else [])
    for name in needed:
        if not callable(ns.get(name)):
            meta["status"] = "missing"
            meta["missing"] = name
            return out_arrays, meta
    # The parameter names, so that feedback can point at a swapped order.
    meta["params"] = {}
    for name in needed:
        try:
            import inspect
            meta["params"][name] = [clean_text(p, 40) for p in
                                    list(inspect.signature(ns[name]).parameters)[:12]]
        except Exception:
            pass
    for c, case in enumerate(manifest["cases"]):
        try:
            outs, status = _call_case(ns, manifest, case, arrays)
        except (Exception, SystemExit) as exc:
            outs, status = None, describe_exception(exc)
        status["outputs"] = []
        if outs is not None:
            for k, value in enumerate(outs):
                arr, info = to_plain_array(value)
                if arr is not None:
                    out_arrays[f"c{c}_o{k}"] = arr
                status["outputs"].append(info)
        meta["cases"].append(status)
    return out_arrays, meta


def main(ns, input_path, output_path):
    """Entry point in the grading kernel: read inputs, call, save plain arrays.

    ``input_path`` is an .npz file holding the question's arrays and, under
    the key ``manifest``, the JSON manifest. The result is written to
    ``output_path`` as an .npz with the arrays and, under ``meta``, the JSON
    description; no pickled objects are involved in either direction.
    """
    with np.load(input_path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    out_arrays, meta = run_question(ns, manifest, arrays)
    out_arrays["meta"] = np.array(json.dumps(meta))
    with open(output_path, "wb") as fh:
        np.savez(fh, **out_arrays)
