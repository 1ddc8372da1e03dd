package main

import (
	"strings"
	"testing"

	"millrace.local/millrace/millracetest"
)

func fault(kind string) map[string]any { return map[string]any{"fault": kind} }

func TestRefusesPanicsFloodsAndPassesTheRestThrough(t *testing.T) {
	faulty := millracetest.NewDoFn(t, New, nil)
	out := faulty.Process(
		millracetest.Value(1), millracetest.Value(fault("error")), millracetest.Value(2),
		millracetest.Value(fault("panic")), millracetest.Value(fault("flood")), millracetest.Value(3),
	)
	if len(out.Errors) != 2 {
		t.Fatalf("errors %v", out.Errors)
	}
	if e := out.Errors[0]; e.Index != 1 || e.Message != "this record is refused on purpose" {
		t.Errorf("error %+v", e)
	}
	if e := out.Errors[1]; e.Index != 3 || !strings.HasPrefix(e.Message, "panic: boom: a deliberate panic (at plugin.go:") ||
		!strings.HasSuffix(e.Message, ".(*Faulty).Process)") {
		t.Errorf("error %+v", e)
	}
	// 1, 2, eight floods, 3: the panicking element emitted nothing.
	if len(out.Outputs) != 11 || len(out.Outputs[2].Value.(string)) != 1<<20 {
		t.Fatalf("%d outputs", len(out.Outputs))
	}
	if got := millracetest.JSON([]any{out.Outputs[0].Value, out.Outputs[1].Value, out.Outputs[10].Value}); got != "[1,2,3]" {
		t.Errorf("passed %s", got)
	}
}
