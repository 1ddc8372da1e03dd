// Package postcard writes and reads postcard, the byte layout the Rust SDK gives
// accumulators and state, so that a Go plugin can take over the accumulators and
// state of its Rust twin (and the host may hot-swap one for the other). The layout
// follows postcard 1.x: integers are LEB128 varints (signed ones zigzag-encoded
// first), floats little-endian, strings and sequences length-prefixed, options a 0/1
// tag, a struct its fields in order with nothing between them.
//
// The codecs here satisfy millrace.Codec. Their Format is "postcard/<Rust type
// name>", as the Rust SDK names an accumulator's format; a struct is written with
// New and the Append and Reader functions:
//
//	var TotalCodec = postcard.New("sum::Total",
//		func(buf []byte, t Total) []byte {
//			buf = postcard.AppendI128(buf, t.Exact)
//			buf = postcard.AppendF64(buf, t.Approx)
//			return postcard.AppendI64(buf, t.Fractions)
//		},
//		func(r *postcard.Reader) Total {
//			return Total{Exact: r.I128(), Approx: r.F64(), Fractions: r.I64()}
//		})
package postcard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Codec is a postcard encoding of T (a millrace.Codec[T]).
type Codec[T any] struct {
	name   string
	encode func(buf []byte, v T) []byte
	decode func(r *Reader) T
}

// New is the codec of a Rust type named rustName ("sum::Total", "i64"): encode
// appends a value's fields, decode reads them back in the same order.
func New[T any](rustName string, encode func(buf []byte, v T) []byte, decode func(r *Reader) T) Codec[T] {
	return Codec[T]{rustName, encode, decode}
}

// Name is the Rust type's name.
func (c Codec[T]) Name() string { return c.name }

// Format is "postcard/<Rust type name>".
func (c Codec[T]) Format() string { return "postcard/" + c.name }

// Encode appends the bytes of v.
func (c Codec[T]) Encode(buf []byte, v T) ([]byte, error) { return c.encode(buf, v), nil }

// Decode reads a value from data, which must hold exactly one.
func (c Codec[T]) Decode(data []byte) (T, error) {
	r := Reader{data: data}
	v := c.decode(&r)
	if r.err != nil {
		var zero T
		return zero, r.err
	}
	if r.pos != len(data) {
		var zero T
		return zero, fmt.Errorf("%d bytes left over after a %s", len(data)-r.pos, c.name)
	}
	return v, nil
}

// Append appends v (for a codec used as a field of another).
func (c Codec[T]) Append(buf []byte, v T) []byte { return c.encode(buf, v) }

// Read reads a value (for a codec used as a field of another).
func (c Codec[T]) Read(r *Reader) T { return c.decode(r) }

// The codecs of Rust's basic types (a newtype such as `struct Above(bool)` is
// written as what it wraps).
var (
	Bool   = New("bool", AppendBool, (*Reader).Bool)
	U64    = New("u64", AppendU64, (*Reader).U64)
	I64    = New("i64", AppendI64, (*Reader).I64)
	I128   = New("i128", AppendI128, (*Reader).I128)
	F64    = New("f64", AppendF64, (*Reader).F64)
	String = New("alloc::string::String", AppendString, (*Reader).String)
)

// Option is a Rust Option<T>: nil, or a value of inner.
func Option[T any](inner Codec[T]) Codec[*T] {
	return New("core::option::Option<"+inner.name+">",
		func(buf []byte, v *T) []byte {
			if v == nil {
				return append(buf, 0)
			}
			return inner.encode(append(buf, 1), *v)
		},
		func(r *Reader) *T {
			if !r.Bool() {
				return nil
			}
			v := inner.decode(r)
			return &v
		})
}

// Seq is a Rust Vec<T>.
func Seq[T any](inner Codec[T]) Codec[[]T] {
	return New("alloc::vec::Vec<"+inner.name+">",
		func(buf []byte, items []T) []byte {
			buf = AppendVarint(buf, uint64(len(items)))
			for _, item := range items {
				buf = inner.encode(buf, item)
			}
			return buf
		},
		func(r *Reader) []T {
			n := r.varint(10)
			if r.err != nil || n > uint64(len(r.data)-r.pos) {
				r.fail(errors.New("the bytes end inside a sequence"))
				return nil
			}
			items := make([]T, 0, n)
			for i := uint64(0); i < n && r.err == nil; i++ {
				items = append(items, inner.decode(r))
			}
			return items
		})
}

// AppendVarint appends an unsigned LEB128 varint.
func AppendVarint(buf []byte, v uint64) []byte {
	for v >= 0x80 {
		buf = append(buf, byte(v)|0x80)
		v >>= 7
	}
	return append(buf, byte(v))
}

// AppendBool appends a bool.
func AppendBool(buf []byte, v bool) []byte {
	if v {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// AppendU64 appends a u64.
func AppendU64(buf []byte, v uint64) []byte { return AppendVarint(buf, v) }

// AppendI64 appends an i64 (zigzag: 0, -1, 1, -2, … become 0, 1, 2, 3, …).
func AppendI64(buf []byte, v int64) []byte {
	return AppendVarint(buf, uint64(v<<1)^uint64(v>>63))
}

// AppendI128 appends an i128.
func AppendI128(buf []byte, v Int128) []byte {
	// zigzag: (v << 1) ^ (v >> 127)
	sign := uint64(v.Hi >> 63)
	hi := (uint64(v.Hi)<<1 | v.Lo>>63) ^ sign
	lo := (v.Lo << 1) ^ sign
	for hi != 0 || lo >= 0x80 {
		buf = append(buf, byte(lo)|0x80)
		lo = lo>>7 | hi<<57
		hi >>= 7
	}
	return append(buf, byte(lo))
}

// AppendF64 appends an f64, little-endian.
func AppendF64(buf []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
}

// AppendString appends a string: its length, then its UTF-8 bytes.
func AppendString(buf []byte, s string) []byte {
	buf = AppendVarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// Reader reads postcard values in order. The first error sticks: later reads give
// zero values, and Err (or the codec's Decode) reports it.
type Reader struct {
	data []byte
	pos  int
	err  error
}

// NewReader reads data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Err is the first error, if any.
func (r *Reader) Err() error { return r.err }

// Rest is how many bytes are left.
func (r *Reader) Rest() int { return len(r.data) - r.pos }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *Reader) varint(maxBytes int) uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < maxBytes; i++ {
		if r.pos >= len(r.data) {
			r.fail(errors.New("the bytes end inside a varint"))
			return 0
		}
		b := r.data[r.pos]
		r.pos++
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if i == maxBytes-1 && maxBytes == 10 && b > 1 {
				r.fail(errors.New("a varint runs past its width"))
				return 0
			}
			return v
		}
	}
	r.fail(errors.New("a varint runs past its width"))
	return 0
}

// Bool reads a bool.
func (r *Reader) Bool() bool {
	if r.err != nil {
		return false
	}
	if r.pos >= len(r.data) {
		r.fail(errors.New("the bytes end before a bool"))
		return false
	}
	b := r.data[r.pos]
	r.pos++
	if b > 1 {
		r.fail(fmt.Errorf("%d is not a bool", b))
		return false
	}
	return b == 1
}

// U64 reads a u64.
func (r *Reader) U64() uint64 { return r.varint(10) }

// I64 reads an i64.
func (r *Reader) I64() int64 {
	z := r.varint(10)
	return int64(z>>1) ^ -int64(z&1)
}

// I128 reads an i128.
func (r *Reader) I128() Int128 {
	if r.err != nil {
		return Int128{}
	}
	var hi, lo uint64
	for i := 0; i < 19; i++ {
		if r.pos >= len(r.data) {
			r.fail(errors.New("the bytes end inside a varint"))
			return Int128{}
		}
		b := uint64(r.data[r.pos])
		r.pos++
		shift := uint(7 * i)
		part := b & 0x7f
		if shift < 64 {
			lo |= part << shift
			if shift > 57 {
				hi |= part >> (64 - shift)
			}
		} else {
			if shift-64 >= 64 || (shift-64 > 57 && part>>(128-shift) != 0) {
				r.fail(errors.New("an i128 varint is out of range"))
				return Int128{}
			}
			hi |= part << (shift - 64)
		}
		if b < 0x80 {
			// un-zigzag: (z >> 1) ^ -(z & 1)
			sign := -(lo & 1)
			lo = (lo>>1 | hi<<63) ^ sign
			hi = (hi >> 1) ^ sign
			return Int128{int64(hi), lo}
		}
	}
	r.fail(errors.New("a varint runs past its width"))
	return Int128{}
}

// F64 reads an f64.
func (r *Reader) F64() float64 {
	if r.err != nil {
		return 0
	}
	if r.pos+8 > len(r.data) {
		r.fail(errors.New("the bytes end inside an f64"))
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.data[r.pos:]))
	r.pos += 8
	return v
}

// String reads a string.
func (r *Reader) String() string {
	n := r.varint(10)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.data)-r.pos) {
		r.fail(errors.New("the bytes end inside a string"))
		return ""
	}
	s := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	if !utf8.Valid(s) {
		r.fail(errors.New("a string is not UTF-8"))
		return ""
	}
	return string(s)
}
