// Sums numbers. Integers stay integers (as the built-in sum does); retractions are
// subtracted, so the plugin works downstream of retracting steps.
//
// The Go twin of plugins/sum: the same outputs, and the same accumulator bytes and
// format ("postcard/sum::Total/1"), so the host may hot-swap one for the other.
package main

import (
	"encoding/json"
	"errors"
	"math"

	"millrace.local/millrace"
	"millrace.local/millrace/combine"
	"millrace.local/millrace/postcard"
)

// Total is a running total: integers exactly, fractions as floating point.
type Total struct {
	// Exact is the sum of the integer inputs (a Rust i128).
	Exact postcard.Int128
	// Approx is the sum of the fractional inputs.
	Approx float64
	// Fractions is the net number of fractional inputs: the output is an integer
	// when it is zero.
	Fractions int64
}

// totalCodec writes the Rust plugin's accumulator, byte for byte: `struct Total {
// int: i128, float: f64, fractional: i64 }` in postcard, named as the Rust SDK
// names it.
var totalCodec = postcard.New("sum::Total",
	func(buf []byte, t Total) []byte {
		buf = postcard.AppendI128(buf, t.Exact)
		buf = postcard.AppendF64(buf, t.Approx)
		return postcard.AppendI64(buf, t.Fractions)
	},
	func(r *postcard.Reader) Total {
		return Total{Exact: r.I128(), Approx: r.F64(), Fractions: r.I64()}
	})

var (
	errNotNumber     = errors.New("expected a JSON number")
	errIntOverflow   = errors.New("sum overflows a 64-bit integer")
	errFloatOverflow = errors.New("sum overflows a 64-bit float")
)

// add is t plus sign × value, or an error (and t unchanged) if the total would no
// longer be a 64-bit number: an overflow is the element's fault, never a silent 0
// or null.
func (t Total) add(value any, sign int64) (Total, error) {
	number, ok := value.(json.Number)
	if !ok {
		return t, errNotNumber
	}
	next := t
	if n, ok := millrace.AsInt(number); ok {
		x := postcard.I128From(n)
		if sign < 0 {
			x = x.Neg()
		}
		next.Exact, _ = next.Exact.Add(x)
	} else {
		f, _ := millrace.AsFloat(number)
		next.Approx += f * float64(sign)
		next.Fractions += sign
	}
	if next.Fractions == 0 {
		if _, ok := next.Exact.Int64(); !ok {
			return t, errIntOverflow
		}
	} else if sum := next.Exact.Float64() + next.Approx; math.IsInf(sum, 0) || math.IsNaN(sum) {
		return t, errFloatOverflow
	}
	return next, nil
}

// Sum is the sum combiner.
type Sum struct{}

func (Sum) CreateAccumulator() Total { return Total{} }

func (Sum) AddInput(t Total, value any) (Total, error) { return t.add(value, 1) }

// AddInputs is the bulk path: integers whose running total stays within 64 bits are
// added at once; anything else makes the SDK go input by input.
func (Sum) AddInputs(t Total, values []any) (Total, error) {
	total, exact := t.Exact.Int64()
	if !exact || t.Fractions != 0 {
		return addEach(t, values)
	}
	for _, v := range values {
		number, ok := v.(json.Number)
		if !ok {
			return addEach(t, values)
		}
		n, ok := millrace.AsInt(number)
		sum := total + n
		if !ok || (n > 0 && sum < total) || (n < 0 && sum > total) {
			return addEach(t, values)
		}
		total = sum
	}
	t.Exact = postcard.I128From(total)
	return t, nil
}

func addEach(t Total, values []any) (Total, error) {
	var err error
	for _, v := range values {
		if t, err = t.add(v, 1); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (Sum) MergeAccumulators(totals []Total) Total {
	var merged Total
	for _, t := range totals {
		merged.Exact = merged.Exact.SaturatingAdd(t.Exact)
		merged.Approx += t.Approx
		merged.Fractions += t.Fractions
	}
	return merged
}

func (Sum) ExtractOutput(t Total) any {
	if n, ok := t.Exact.Int64(); ok && t.Fractions == 0 {
		return n
	}
	// Only merged windows can pass 64 bits (each input was checked); they saturate
	// at the largest float.
	total := math.Max(-math.MaxFloat64, math.Min(math.MaxFloat64, t.Exact.Float64()+t.Approx))
	if math.IsNaN(total) {
		return 0
	}
	return total
}

func (Sum) Uncombine(t Total, value any) (Total, error) { return t.add(value, -1) }

func (Sum) Inversion() millrace.Inversion { return millrace.Subtract }

func (Sum) AccumulatorCodec() millrace.Codec[Total] { return totalCodec }

// AccumulatorFormat makes the host see "postcard/sum::Total/1", as for the Rust plugin.
func (Sum) AccumulatorFormat() string { return "1" }

// New builds the sum; it takes no configuration.
func New(millrace.Config) (millrace.CombineFn[any, Total, any], error) { return Sum{}, nil }

func init() { combine.Export(New) }

func main() {}
