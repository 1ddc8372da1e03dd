package main

import (
	"bytes"
	"encoding/hex"
	"testing"

	"millrace.local/millrace"
	"millrace.local/millrace/millracetest"
	"millrace.local/millrace/postcard"
)

func TestSumsIntegersExactlyAndTakesRetractionsBack(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	total, rejected := sum.Add(sum.Create(), 5, 7, 3)
	if len(rejected) > 0 {
		t.Fatal(rejected)
	}
	total, _ = sum.Retract(total, 3)
	if got := millracetest.JSON(sum.Extract(total)); got != "12" {
		t.Errorf("got %s", got)
	}
	total, _ = sum.Add(total, 0.5)
	if got := millracetest.JSON(sum.Extract(total)); got != "12.5" {
		t.Errorf("got %s", got)
	}
}

func TestAnInputThatWouldOverflowIsRefused(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	big, _ := sum.Add(sum.Create(), 1e308)
	total, rejected := sum.Add(big, 1e308)
	want := []millrace.ElementError{{Index: 0, Message: "sum overflows a 64-bit float"}}
	if millracetest.JSON(rejected) != millracetest.JSON(want) {
		t.Errorf("rejected %v", rejected)
	}
	if got := millracetest.JSON(sum.Extract(total)); got != "1e308" {
		t.Errorf("got %s", got)
	}
	ints, rejected := sum.Add(sum.Create(), int64(1<<63-1), 1, -5)
	if len(rejected) != 1 || rejected[0].Index != 1 || rejected[0].Message != "sum overflows a 64-bit integer" {
		t.Errorf("rejected %v", rejected)
	}
	if got := millracetest.JSON(sum.Extract(ints)); got != "9223372036854775802" {
		t.Errorf("the bad input is as if never given: %s", got)
	}
}

func TestTheBulkPathKeepsTheChecksOfEachInput(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	near := int64(1<<63 - 10)
	total, rejected := sum.Add(sum.Create(), near, 5, 20, -7)
	if len(rejected) != 1 || rejected[0].Index != 2 || rejected[0].Message != "sum overflows a 64-bit integer" {
		t.Errorf("rejected %v", rejected)
	}
	if got := millracetest.JSON(sum.Extract(total)); got != "9223372036854775796" {
		t.Errorf("got %s", got)
	}
	inputs := make([]any, 1000)
	for i := range inputs {
		inputs[i] = i
	}
	if got := millracetest.JSON(sum.Combine(inputs...)); got != "499500" {
		t.Errorf("got %s", got)
	}
}

func TestValuesThatAreNotNumbersAreRejected(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	total, rejected := sum.Add(sum.Create(), 1, "lots", true, nil, 2)
	if len(rejected) != 3 || rejected[0].Index != 1 || rejected[1].Index != 2 || rejected[2].Index != 3 {
		t.Fatalf("rejected %v", rejected)
	}
	if rejected[0].Message != "expected a JSON number" {
		t.Errorf("message %q", rejected[0].Message)
	}
	if got := millracetest.JSON(sum.Extract(total)); got != "3" {
		t.Errorf("got %s", got)
	}
}

func TestMergesSessions(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	a, _ := sum.Add(sum.Create(), 1, 2)
	b, _ := sum.Add(sum.Create(), 0.25)
	c := sum.Create()
	if got := millracetest.JSON(sum.Extract(sum.Merge(a, b, c))); got != "3.25" {
		t.Errorf("got %s", got)
	}
}

func TestAccumulatorsAreTheRustPluginsBytes(t *testing.T) {
	sum := millracetest.NewCombine(t, New, nil)
	if sum.Format() != "postcard/sum::Total/1" {
		t.Errorf("format %q", sum.Format())
	}
	if sum.Inversion() != millrace.Subtract {
		t.Errorf("inversion %v", sum.Inversion())
	}
	if !bytes.Equal(sum.Create(), make([]byte, 10)) {
		t.Errorf("fresh %x", sum.Create())
	}
	total, _ := sum.Add(sum.Create(), -3, 1.5)
	// int -3: zigzag 5; float 1.5 little-endian; fractional 1: zigzag 2.
	want, _ := hex.DecodeString("05000000000000f83f02")
	if !bytes.Equal(total, want) {
		t.Errorf("bytes %x", total)
	}
	decoded, err := totalCodec.Decode(total)
	if err != nil || decoded != (Total{postcard.I128From(-3), 1.5, 1}) {
		t.Errorf("decoded %v %v", decoded, err)
	}
}
