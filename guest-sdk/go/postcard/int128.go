package postcard

import (
	"math"
	"math/big"
	"math/bits"
)

// Int128 is a Rust i128: Hi holds the upper 64 bits (with the sign), Lo the lower.
type Int128 struct {
	Hi int64
	Lo uint64
}

// Int128 bounds.
var (
	MaxInt128 = Int128{math.MaxInt64, math.MaxUint64}
	MinInt128 = Int128{math.MinInt64, 0}
)

// I128From is n as an Int128.
func I128From(n int64) Int128 { return Int128{n >> 63, uint64(n)} }

// Int64 is v as an int64, if it fits.
func (v Int128) Int64() (int64, bool) {
	n := int64(v.Lo)
	return n, v.Hi == n>>63
}

// IsZero reports whether v is 0.
func (v Int128) IsZero() bool { return v.Hi == 0 && v.Lo == 0 }

// Add is v + w, and whether it overflowed (then the result wrapped).
func (v Int128) Add(w Int128) (Int128, bool) {
	lo, carry := bits.Add64(v.Lo, w.Lo, 0)
	hi := v.Hi + w.Hi + int64(carry)
	// Overflow when both operands have the same sign and the result's differs.
	overflow := (v.Hi >= 0) == (w.Hi >= 0) && (hi >= 0) != (v.Hi >= 0)
	return Int128{hi, lo}, overflow
}

// Neg is -v (MinInt128 stays itself).
func (v Int128) Neg() Int128 {
	lo, borrow := bits.Sub64(0, v.Lo, 0)
	return Int128{-v.Hi - int64(borrow), lo}
}

// Sub is v - w, and whether it overflowed.
func (v Int128) Sub(w Int128) (Int128, bool) {
	lo, borrow := bits.Sub64(v.Lo, w.Lo, 0)
	hi := v.Hi - w.Hi - int64(borrow)
	overflow := (v.Hi >= 0) != (w.Hi >= 0) && (hi >= 0) != (v.Hi >= 0)
	return Int128{hi, lo}, overflow
}

// SaturatingAdd is v + w, held at the bounds (Rust's i128::saturating_add).
func (v Int128) SaturatingAdd(w Int128) Int128 {
	sum, overflow := v.Add(w)
	if !overflow {
		return sum
	}
	if w.Hi < 0 {
		return MinInt128
	}
	return MaxInt128
}

// Big is v as a big.Int.
func (v Int128) Big() *big.Int {
	hi := new(big.Int).SetInt64(v.Hi)
	hi.Lsh(hi, 64)
	return hi.Add(hi, new(big.Int).SetUint64(v.Lo))
}

// Float64 is v rounded to the nearest float64 (Rust's `v as f64`).
func (v Int128) Float64() float64 {
	if n, ok := v.Int64(); ok {
		return float64(n)
	}
	f, _ := new(big.Float).SetInt(v.Big()).Float64()
	return f
}
