"""Postcard, the byte layout the Rust SDK gives accumulators and state.

A Python plugin that declares its accumulator (or state) with these codecs writes the
same bytes as the Rust plugin it replaces, so the host may hot-swap one for the other
and resume either from the other's checkpoints. The layout follows postcard 1.x
(https://postcard.jamesmunns.com/wire-format): integers are LEB128 varints (signed ones
zigzag-encoded first), floats little-endian, strings and sequences length-prefixed,
options a 0/1 tag, and a struct its fields in order, with nothing between them.

The Rust SDK names an accumulator format ``postcard/<Rust type name>/<version>``; a
:class:`Struct` carries the Rust type's name for that reason::

    class Total(NamedTuple):
        exact: int
        approx: float
        fractions: int

    TOTAL = postcard.Struct("sum::Total", Total,
                            exact=postcard.I128, approx=postcard.F64,
                            fractions=postcard.I64)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "BOOL",
    "F64",
    "I64",
    "I128",
    "STR",
    "U64",
    "Field",
    "Option",
    "Seq",
    "Struct",
]

T = TypeVar("T")

_DOUBLE = struct.Struct("<d")


class Field(Generic[T]):
    """One postcard type: writes its value into a buffer and reads it back at an offset.

    Every field is also a codec of a whole byte string (``encode``/``decode``).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def format(self) -> str:
        """``postcard/<Rust type name>``."""
        return f"postcard/{self.name}"

    def write(self, out: bytearray, value: T) -> None:
        """Appends the bytes of ``value`` to ``out``."""
        raise NotImplementedError

    def read(self, data: bytes, at: int) -> tuple[T, int]:
        """The value whose bytes start at ``data[at]``, and where they end."""
        raise NotImplementedError

    def encode(self, value: T) -> bytes:
        """The bytes of ``value``."""
        out = bytearray()
        self.write(out, value)
        return bytes(out)

    def decode(self, data: bytes) -> T:
        """The value of ``data``, which must hold exactly one."""
        value, end = self.read(data, 0)
        if end != len(data):
            raise ValueError(f"{len(data) - end} bytes left over after a {self.name}")
        return value


def _write_varint(out: bytearray, number: int) -> None:
    if number < 0x80:
        out.append(number)
        return
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)


def _read_varint(data: bytes, at: int, max_bytes: int) -> tuple[int, int]:
    if at < len(data) and data[at] < 0x80:
        return data[at], at + 1
    number = 0
    shift = 0
    for position in range(at, min(len(data), at + max_bytes)):
        byte = data[position]
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, position + 1
        shift += 7
    if at + max_bytes <= len(data):
        raise ValueError("a varint runs past its width")
    raise ValueError("the bytes end inside a varint")


class _Unsigned(Field[int]):
    def __init__(self, name: str, bits: int) -> None:
        super().__init__(name)
        self._limit = 1 << bits
        self._max_bytes = (bits + 6) // 7

    def write(self, out: bytearray, value: int) -> None:
        if isinstance(value, bool) or not 0 <= value < self._limit:
            raise ValueError(f"{value!r} is not a {self.name}")
        _write_varint(out, value)

    def read(self, data: bytes, at: int) -> tuple[int, int]:
        value, end = _read_varint(data, at, self._max_bytes)
        if value >= self._limit:
            raise ValueError(f"{value} is out of range for a {self.name}")
        return value, end


class _Signed(Field[int]):
    def __init__(self, name: str, bits: int) -> None:
        super().__init__(name)
        self._bits = bits
        self._low = -(1 << (bits - 1))
        self._high = (1 << (bits - 1)) - 1
        self._max_bytes = (bits + 6) // 7

    def write(self, out: bytearray, value: int) -> None:
        if isinstance(value, bool) or not self._low <= value <= self._high:
            raise ValueError(f"{value!r} is not an {self.name}")
        # Zigzag: 0, -1, 1, -2, … become 0, 1, 2, 3, …
        zigzag = (value << 1) ^ (value >> (self._bits - 1))
        if zigzag < 0x80:
            out.append(zigzag)
        else:
            _write_varint(out, zigzag)

    def read(self, data: bytes, at: int) -> tuple[int, int]:
        if at < len(data) and data[at] < 0x80:
            zigzag = data[at]
            return (zigzag >> 1) ^ -(zigzag & 1), at + 1
        zigzag, end = _read_varint(data, at, self._max_bytes)
        if zigzag >> self._bits:
            raise ValueError(f"{zigzag} is out of range for a zigzag {self.name}")
        return (zigzag >> 1) ^ -(zigzag & 1), end


class _Bool(Field[bool]):
    def write(self, out: bytearray, value: bool) -> None:
        out.append(1 if value else 0)

    def read(self, data: bytes, at: int) -> tuple[bool, int]:
        if at >= len(data):
            raise ValueError("the bytes end before a bool")
        byte = data[at]
        if byte > 1:
            raise ValueError(f"{byte} is not a bool")
        return byte == 1, at + 1


class _F64(Field[float]):
    def write(self, out: bytearray, value: float) -> None:
        out += _DOUBLE.pack(value)

    def read(self, data: bytes, at: int) -> tuple[float, int]:
        if at + 8 > len(data):
            raise ValueError("the bytes end inside an f64")
        return _DOUBLE.unpack_from(data, at)[0], at + 8


class _Str(Field[str]):
    def write(self, out: bytearray, value: str) -> None:
        encoded = value.encode()
        _write_varint(out, len(encoded))
        out += encoded

    def read(self, data: bytes, at: int) -> tuple[str, int]:
        length, start = _read_varint(data, at, 10)
        end = start + length
        if end > len(data):
            raise ValueError("the bytes end inside a string")
        return data[start:end].decode(), end


class Option(Field[T | None]):
    """A Rust ``Option<T>``: ``None``, or a value of ``inner``."""

    def __init__(self, inner: Field[T]) -> None:
        super().__init__(f"core::option::Option<{inner.name}>")
        self._inner = inner

    def write(self, out: bytearray, value: T | None) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self._inner.write(out, value)

    def read(self, data: bytes, at: int) -> tuple[T | None, int]:
        tag, at = BOOL.read(data, at)
        if not tag:
            return None, at
        return self._inner.read(data, at)


class Seq(Field[list[T]]):
    """A Rust ``Vec<T>``: a Python list of ``inner`` values."""

    def __init__(self, inner: Field[T]) -> None:
        super().__init__(f"alloc::vec::Vec<{inner.name}>")
        self._inner = inner

    def write(self, out: bytearray, value: Sequence[T]) -> None:
        _write_varint(out, len(value))
        for item in value:
            self._inner.write(out, item)

    def read(self, data: bytes, at: int) -> tuple[list[T], int]:
        length, at = _read_varint(data, at, 10)
        items = []
        for _ in range(length):
            item, at = self._inner.read(data, at)
            items.append(item)
        return items, at


class Struct(Field[T]):
    """A Rust struct: its fields in order, read into (and written from) a Python class.

    ``factory`` builds the value from the fields in order (a ``NamedTuple`` or a
    dataclass); writing reads each field as an attribute of the value (or, for a
    ``NamedTuple`` whose fields are these in this order, takes them in order).
    """

    def __init__(self, name: str, factory: Callable[..., T], /, **fields: Field[Any]) -> None:
        super().__init__(name)
        self._names = list(fields)
        self._readers = [field.read for field in fields.values()]
        self._writers = [field.write for field in fields.values()]
        # A NamedTuple of exactly these fields is built and read in order, faster.
        self._is_tuple = getattr(factory, "_fields", None) == tuple(fields)
        self._make: Callable[[list[Any]], T] = (
            factory._make if self._is_tuple else lambda values: factory(*values)  # type: ignore[attr-defined]
        )

    def write(self, out: bytearray, value: T) -> None:
        if self._is_tuple:
            for write, item in zip(self._writers, value):  # type: ignore[call-overload]
                write(out, item)
        else:
            for write, name in zip(self._writers, self._names):
                write(out, getattr(value, name))

    def read(self, data: bytes, at: int) -> tuple[T, int]:
        values = []
        for read in self._readers:
            value, at = read(data, at)
            values.append(value)
        return self._make(values), at


BOOL: Field[bool] = _Bool("bool")
"""A Rust ``bool`` (a newtype around one, such as ``struct Above(bool)``, is the same)."""

U64: Field[int] = _Unsigned("u64", 64)
"""A Rust ``u64``."""

I64: Field[int] = _Signed("i64", 64)
"""A Rust ``i64``."""

I128: Field[int] = _Signed("i128", 128)
"""A Rust ``i128``."""

F64: Field[float] = _F64("f64")
"""A Rust ``f64``."""

STR: Field[str] = _Str("alloc::string::String")
"""A Rust ``String``."""
