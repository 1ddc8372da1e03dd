package main

import (
	"bytes"
	"testing"

	"millrace.local/millrace"
	"millrace.local/millrace/millracetest"
)

func TestFiresOnEachCrossingFromBelow(t *testing.T) {
	threshold := millracetest.NewTrigger(t, New, map[string]any{"threshold": 10})
	got := []bool{
		threshold.OnElements(3, 9),
		threshold.OnElements(12),
		threshold.OnElements(15), // still above
		threshold.OnElements(2, 11),
		threshold.OnElements("not a number", true, nil),
	}
	want := []bool{false, true, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d fired %v", i, got[i])
		}
	}
	// The Rust plugin's state: a postcard bool.
	if state := threshold.State(millrace.GlobalWindow); !bytes.Equal(state, []byte{1}) {
		t.Errorf("state %x", state)
	}
}

func TestReadsAFieldOfObjects(t *testing.T) {
	threshold := millracetest.NewTrigger(t, New, map[string]any{"threshold": 100, "field": "latency"})
	w := millrace.Window{Start: 0, End: 10}
	if !threshold.OnElementsIn(w, map[string]any{"latency": 150}) {
		t.Error("did not fire")
	}
	if threshold.OnElements(map[string]any{"latency": 150}) != true {
		t.Error("each window has its own state")
	}
}
