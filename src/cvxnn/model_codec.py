r"""The JSON + arrays encoding of cvxnn model files (see :mod:`cvxnn.io` for the file format).

A value is encoded as JSON in which every array is a reference ``{"$array": "a3"}`` to an
archive member. JSON scalars (``null``, booleans, integers, strings, finite floats) stand for
themselves; non-finite floats are ``{"$float": "inf" | "-inf" | "nan"}``; NumPy scalars and
arrays are ``{"$array": name}`` (0-d arrays stand for scalars); lists are JSON lists, tuples
``{"$tuple": [...]}`` and dicts ``{"$dict": [[key, value], ...]}`` (string keys); networks are
``{"$ReLUNetwork": {"U": ..., "b": ..., "alpha": ...}}``,
``{"$GatedReLUNetwork": {"gates": ..., "U": ..., "bias": ...}}``; activation patterns are
``{"$ActivationPatterns": {"D": ..., "gates": ..., "exact": ..., "bias": ..., "n_requested": ...}}``;
a pattern search's certificate is ``{"$SearchCertificate": {field: value, ...}}`` with the fields
of :class:`~cvxnn.certificate.SearchCertificate` (those with defaults may be missing).
Object arrays whose elements are all strings are stored as unicode arrays with
``{"$array": name, "object": true}`` and come back as object arrays.

The :class:`Decoder` trusts nothing: every entry is checked for its shape (a reference to an
existing array, the exact keys of a tag, a nesting depth of at most :data:`MAX_DEPTH`), and any
deviation is a :class:`~cvxnn.exceptions.ModelFileError`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

from .certificate import SearchCertificate
from .exceptions import InvalidInputError, ModelFileError
from .patterns import ActivationPatterns
from .recovery import GatedReLUNetwork, ReLUNetwork

__all__ = ["ARRAY_KINDS", "MAX_DEPTH", "Decoder", "Encoder", "UnsupportedValue"]

#: dtype kinds an array member may have (bool, integers, floats, complex, strings).
ARRAY_KINDS = "biufcUS"
#: Deepest nesting of lists, tuples and dicts the decoder accepts.
MAX_DEPTH = 32

_NETWORK_KEYS = {
    "$ReLUNetwork": {"U", "b", "alpha"},
    "$GatedReLUNetwork": {"gates", "U", "bias"},
    "$ActivationPatterns": {"D", "gates", "exact", "bias", "n_requested"},
}


_CERT_FIELDS = {f.name: f for f in dataclasses.fields(SearchCertificate)}
_CERT_REQUIRED = {n for n, f in _CERT_FIELDS.items() if f.default is dataclasses.MISSING}


def _cert_value_ok(name: str, value: Any) -> bool:
    """Whether ``value`` has the type of the certificate field ``name``."""
    kind = _CERT_FIELDS[name].type
    if kind == "bool":
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):
        return False
    if kind == "int":
        return isinstance(value, numbers.Integral) and value >= 0
    if kind == "str":
        return isinstance(value, str) and len(value) <= 100
    return isinstance(value, numbers.Real)


class UnsupportedValue(Exception):
    """A value of a type the format cannot hold (its message says where and which type)."""


class Encoder:
    """Encode Python values into JSON, collecting arrays in :attr:`arrays` (``a0``, ``a1``, ...)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, arr: np.ndarray, where: str) -> dict[str, Any]:
        """Store ``arr`` as the next member and return its reference."""
        ref: dict[str, Any] = {}
        if arr.dtype == object:
            flat = arr.ravel()
            if not all(isinstance(v, str) for v in flat):
                raise UnsupportedValue(f"{where}: object array with non-string elements")
            arr = arr.astype(str)
            ref["object"] = True
        elif arr.dtype.kind not in ARRAY_KINDS or arr.dtype.fields is not None:
            raise UnsupportedValue(f"{where}: array of dtype {arr.dtype}")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d
        ref["$array"] = name
        return ref

    def encode(self, value: Any, where: str) -> Any:
        """Encode ``value`` (``where`` names it in error messages)."""
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, np.generic):
            return self.array(np.asarray(value), where)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if isinstance(value, ReLUNetwork):
            return {
                "$ReLUNetwork": {
                    "U": self.array(value.U, where + ".U"),
                    "b": self.array(value.b, where + ".b"),
                    "alpha": self.array(value.alpha, where + ".alpha"),
                }
            }
        if isinstance(value, GatedReLUNetwork):
            return {
                "$GatedReLUNetwork": {
                    "gates": self.array(value.gates, where + ".gates"),
                    "U": self.array(value.U, where + ".U"),
                    "bias": bool(value.bias),
                }
            }
        if isinstance(value, ActivationPatterns):
            return {
                "$ActivationPatterns": {
                    "D": self.array(value.D, where + ".D"),
                    "gates": None if value.gates is None else self.array(value.gates, where + ".gates"),
                    "exact": bool(value.exact),
                    "bias": bool(value.bias),
                    "n_requested": self.encode(value.n_requested, where + ".n_requested"),
                }
            }
        if isinstance(value, SearchCertificate):
            return {
                "$SearchCertificate": {
                    name: self.encode(getattr(value, name), f"{where}.{name}") for name in _CERT_FIELDS
                }
            }
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for key, v in value.items():
                if not isinstance(key, str):
                    raise UnsupportedValue(f"{where}: dict key {key!r} is not a string")
                items.append([key, self.encode(v, f"{where}[{key!r}]")])
            return {"$dict": items}
        raise UnsupportedValue(f"{where}: value of type {type(value).__name__}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Decoder:
    """Decode what :class:`Encoder` wrote, with the archive's ``arrays``; refuses anything else."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, ref: Any) -> np.ndarray:
        """The array a reference ``{"$array": name[, "object": true]}`` points to."""
        if (
            not isinstance(ref, dict)
            or not isinstance(ref.get("$array"), str)
            or ref["$array"] not in self.arrays
            or not set(ref) <= {"$array", "object"}
            or not isinstance(ref.get("object", False), bool)
        ):
            raise ModelFileError(f"array reference {_short(ref)} points to no array in the file")
        arr = self.arrays[ref["$array"]]
        if ref.get("object"):
            arr = arr.astype(object)
        return arr

    def _body(self, tag: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != _NETWORK_KEYS[tag]:
            raise ModelFileError(
                f"{tag[1:]} entry {_short(body)} needs exactly the keys {sorted(_NETWORK_KEYS[tag])}"
            )
        return body

    def _flag(self, value: Any, what: str) -> bool:
        if not isinstance(value, bool):
            raise ModelFileError(f"{what} must be true or false; got {_short(value)}")
        return value

    def decode(self, value: Any, depth: int = 0) -> Any:
        """Decode one encoded value; :class:`ModelFileError` for anything malformed."""
        if depth > MAX_DEPTH:
            raise ModelFileError(f"the header is nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        if not isinstance(value, dict) or len(value) == 0:
            raise ModelFileError(f"unexpected entry {_short(value)} in the header")
        if "$array" in value:
            arr = self.array(value)
            return arr[()] if arr.ndim == 0 else arr
        if len(value) != 1:
            raise ModelFileError(f"unexpected entry {_short(value)} in the header")
        ((tag, body),) = value.items()
        if tag == "$float":
            if body not in ("inf", "-inf", "nan"):
                raise ModelFileError(f"$float entry {_short(body)} is not 'inf', '-inf' or 'nan'")
            return float(body)
        if tag == "$tuple":
            if not isinstance(body, list):
                raise ModelFileError(f"$tuple entry {_short(body)} is not a list")
            return tuple(self.decode(v, depth + 1) for v in body)
        if tag == "$dict":
            ok = isinstance(body, list) and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in body
            )
            if not ok:
                raise ModelFileError(f"$dict entry {_short(body)} is not a list of [name, value] pairs")
            return {k: self.decode(v, depth + 1) for k, v in body}
        try:
            return self._structured(tag, body, depth)
        except InvalidInputError as exc:
            raise ModelFileError(f"inconsistent {tag[1:]} entry ({exc})") from None

    def _structured(self, tag: str, body: Any, depth: int) -> Any:
        if tag == "$ReLUNetwork":
            body = self._body(tag, body)
            return ReLUNetwork(
                U=self._float(body["U"]), b=self._float(body["b"]), alpha=self._float(body["alpha"])
            )
        if tag == "$GatedReLUNetwork":
            body = self._body(tag, body)
            return GatedReLUNetwork(
                gates=self._float(body["gates"]),
                U=self._float(body["U"]),
                bias=self._flag(body["bias"], "GatedReLUNetwork bias"),
            )
        if tag == "$ActivationPatterns":
            body = self._body(tag, body)
            gates = body["gates"]
            D = self.array(body["D"])
            if D.dtype.kind != "b":
                raise ModelFileError(f"ActivationPatterns D must be a boolean array; got dtype {D.dtype}")
            return ActivationPatterns(
                D=D,
                gates=None if gates is None else self._float(gates),
                exact=self._flag(body["exact"], "ActivationPatterns exact"),
                bias=self._flag(body["bias"], "ActivationPatterns bias"),
                n_requested=self.decode(body["n_requested"], depth + 1),
            )
        if tag == "$SearchCertificate":
            return self._certificate(body, depth)
        raise ModelFileError(f"unknown tag {_short(tag)} in the header (written by a newer cvxnn?)")

    def _certificate(self, body: Any, depth: int) -> SearchCertificate:
        """A :class:`SearchCertificate`: the required fields, known fields only, each of its type."""
        if not isinstance(body, dict) or not _CERT_REQUIRED <= set(body) <= set(_CERT_FIELDS):
            raise ModelFileError(
                f"SearchCertificate entry {_short(body)} needs the keys {sorted(_CERT_REQUIRED)} "
                f"(and may have {sorted(set(_CERT_FIELDS) - _CERT_REQUIRED)})"
            )
        values = {}
        for name, encoded in body.items():
            value = self.decode(encoded, depth + 1)
            if not _cert_value_ok(name, value):
                raise ModelFileError(f"SearchCertificate {name} has the wrong type: {_short(value)}")
            kind = _CERT_FIELDS[name].type
            values[name] = value if kind == "str" else {"bool": bool, "int": int}.get(kind, float)(value)
        return SearchCertificate(**values)

    def _float(self, ref: Any) -> np.ndarray:
        arr = self.array(ref)
        if arr.dtype.kind not in "biuf":
            raise ModelFileError(f"array {ref['$array']!r} must be numeric (real); got dtype {arr.dtype}")
        return arr
