"""How accumulators and state become bytes.

The host stores a CombineFn's accumulators, a DoFn's state cells and a trigger's
per-window state as opaque bytes. A codec turns the plugin's Python value into those
bytes and back. Pick one per plugin class (``accumulator_codec``, ``state_codec``):

- :data:`PICKLE` (the default): any picklable value — numbers, tuples, dicts, sets,
  dataclasses. Only Python plugins can read it.
- :data:`JSON`: JSON values; readable by any language.
- the codecs of :mod:`millrace.postcard`: the byte layout of the Rust SDK, so that a
  Python plugin can take over the accumulators and state of its Rust counterpart.

A codec's ``format`` names the encoding. For a CombineFn the host sees it (with the
plugin's ``accumulator_format``) and refuses to hot-swap in a version whose format
differs.
"""

from __future__ import annotations

import json
import pickle
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Generic, Protocol, TypeVar

from millrace._core import Json

__all__ = ["Codec", "JSON", "PICKLE", "JsonCodec", "PickleCodec", "encode_json"]

T = TypeVar("T")


def _not_json(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


# The JSON module's C encoder, made once: ``json.dumps`` builds it anew on every call,
# which costs more than encoding a small value. (Without the circularity check, a
# value that contains itself fails with a RecursionError.)
_c_encoder = (
    c_make_encoder(None, _not_json, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_not_json
)


def encode_json(value: Any) -> bytes:
    """The compact JSON text of ``value``; ``NaN`` and infinities are refused."""
    kind = type(value)
    if kind is int:
        return str(value).encode()
    if kind is str:
        return encode_basestring(value).encode()
    if _c_encoder is not None:
        return "".join(_c_encoder(value, 0)).encode()
    return _ENCODER.encode(value).encode()


class Codec(Protocol[T]):
    """Turns values of type ``T`` into bytes and back."""

    @property
    def format(self) -> str:
        """Names the byte encoding, e.g. ``"pickle"`` or ``"postcard/sum::Total"``."""
        ...

    def encode(self, value: T) -> bytes:
        """The bytes of ``value``; raises if it cannot be encoded."""
        ...

    def decode(self, data: bytes) -> T:
        """The value of ``data``; raises if the bytes are not this encoding."""
        ...


class PickleCodec(Generic[T]):
    """Pickles values, with a fixed protocol so that every build reads the others."""

    format = "pickle"
    protocol = 5

    def encode(self, value: T) -> bytes:
        """Pickles ``value``."""
        return pickle.dumps(value, protocol=self.protocol)

    def decode(self, data: bytes) -> T:
        """Unpickles ``data``, which this plugin wrote."""
        value: T = pickle.loads(data)
        return value


class JsonCodec:
    """Encodes values as compact JSON text (UTF-8); ``NaN`` and infinities are refused."""

    format = "json"

    def encode(self, value: Json) -> bytes:
        """The JSON text of ``value``."""
        return encode_json(value)

    def decode(self, data: bytes) -> Json:
        """The value of the JSON text ``data``."""
        value: Json = json.loads(data)
        return value


PICKLE: PickleCodec[Any] = PickleCodec()
"""Any picklable value (the default codec)."""

JSON = JsonCodec()
"""JSON values."""
