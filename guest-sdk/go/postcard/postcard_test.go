package postcard

import (
	"bytes"
	"math"
	"math/big"
	"testing"
)

func TestI128RoundTripsAndMatchesZigzagVarints(t *testing.T) {
	cases := []Int128{
		{}, I128From(-1), I128From(1), I128From(-3), I128From(63), I128From(-64), I128From(64),
		I128From(math.MaxInt64), I128From(math.MinInt64), MaxInt128, MinInt128, {Hi: 1}, {Hi: -2, Lo: 5},
	}
	for _, v := range cases {
		data := AppendI128(nil, v)
		// The reference: zigzag with big integers, then LEB128.
		n := v.Big()
		z := new(big.Int).Lsh(n, 1)
		if n.Sign() < 0 {
			z.Neg(z).Sub(z, big.NewInt(1))
		}
		var want []byte
		for z.Cmp(big.NewInt(0x80)) >= 0 {
			want = append(want, byte(z.Uint64()&0x7f)|0x80)
			z.Rsh(z, 7)
		}
		want = append(want, byte(z.Uint64()))
		if !bytes.Equal(data, want) {
			t.Errorf("%v: %x, want %x", n, data, want)
		}
		back, err := I128.Decode(data)
		if err != nil || back != v {
			t.Errorf("%v: read back %v (%v)", n, back.Big(), err)
		}
	}
}

func TestInt128Arithmetic(t *testing.T) {
	if _, overflow := MaxInt128.Add(I128From(1)); !overflow {
		t.Error("MaxInt128 + 1 overflows")
	}
	if got := MaxInt128.SaturatingAdd(I128From(5)); got != MaxInt128 {
		t.Errorf("saturates: %v", got.Big())
	}
	if got := MinInt128.SaturatingAdd(I128From(-5)); got != MinInt128 {
		t.Errorf("saturates: %v", got.Big())
	}
	sum, _ := I128From(math.MaxInt64).Add(I128From(math.MaxInt64))
	if _, fits := sum.Int64(); fits || sum.Big().String() != "18446744073709551614" {
		t.Errorf("sum %v", sum.Big())
	}
	if got := sum.Float64(); got != 18446744073709551614.0 {
		t.Errorf("float %v", got)
	}
	diff, _ := sum.Sub(I128From(math.MaxInt64))
	if n, ok := diff.Int64(); !ok || n != math.MaxInt64 {
		t.Errorf("diff %v", diff.Big())
	}
	if I128From(-7).Neg() != I128From(7) {
		t.Error("neg")
	}
}

func TestBasicTypesAndTheirErrors(t *testing.T) {
	if got := I64.Append(nil, -3); !bytes.Equal(got, []byte{5}) {
		t.Errorf("i64 -3: %x", got)
	}
	if got, _ := I64.Decode(I64.Append(nil, math.MinInt64)); got != math.MinInt64 {
		t.Errorf("i64 min: %v", got)
	}
	if I64.Format() != "postcard/i64" || I128.Name() != "i128" {
		t.Error("names")
	}
	if _, err := Bool.Decode([]byte{2}); err == nil {
		t.Error("2 is not a bool")
	}
	if _, err := I64.Decode([]byte{0x80}); err == nil {
		t.Error("the bytes end inside a varint")
	}
	if _, err := I64.Decode([]byte{1, 2}); err == nil {
		t.Error("bytes left over")
	}
	strs := Seq(String)
	data, _ := strs.Encode(nil, []string{"a", "bé"})
	if back, err := strs.Decode(data); err != nil || len(back) != 2 || back[1] != "bé" {
		t.Errorf("seq %v %v", back, err)
	}
	opt := Option(F64)
	x := 1.5
	data, _ = opt.Encode(nil, &x)
	if back, err := opt.Decode(data); err != nil || *back != 1.5 || opt.Name() != "core::option::Option<f64>" {
		t.Errorf("option %v %v", back, err)
	}
	if back, err := opt.Decode([]byte{0}); err != nil || back != nil {
		t.Errorf("none %v %v", back, err)
	}
}
