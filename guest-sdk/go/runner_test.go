package millrace_test

import (
	"errors"
	"strings"
	"testing"

	"millrace.local/millrace"
	"millrace.local/millrace/millracetest"
)

// stateful counts elements per key in state, emits to side outputs and fails on
// demand, after writing state and emitting, to show that a failure leaves no trace.
type stateful struct{}

func (stateful) Process(e *millrace.Element[map[string]any], out *millrace.Emitter) error {
	var n int64
	if _, err := e.StateJSON("n", &n); err != nil {
		return err
	}
	if err := e.SetStateJSON("n", n+1); err != nil {
		return err
	}
	e.SetEventTimer("t", e.Timestamp+10)
	if err := out.Emit(n + 1); err != nil {
		return err
	}
	switch e.Value["do"] {
	case "fail":
		return errors.New("refused")
	case "panic":
		var m map[string]int
		m["x"] = 1 // a nil map: a runtime error
	case "side":
		return out.To("rejects").EmitAt("other", e.Value, 99)
	case "func":
		return out.Emit(map[string]any{"x": []any{1, func() {}}})
	}
	return nil
}

func (stateful) OnTimer(t *millrace.Timer, out *millrace.Emitter) error {
	t.ClearState("n")
	millrace.CounterAdd("fired", 1)
	return out.Emit(t.Name)
}

func newStateful(millrace.Config) (millrace.DoFn[map[string]any], error) { return stateful{}, nil }

func TestAFailedElementLeavesNoTrace(t *testing.T) {
	fn := millracetest.NewDoFn(t, newStateful, nil)
	in := func(do string, ts int64) millracetest.Input {
		return millracetest.Input{Key: "k", Value: map[string]any{"do": do}, Timestamp: ts}
	}
	out := fn.Process(in("", 1), in("fail", 2), in("panic", 3), in("side", 4), in("func", 5), millracetest.Value(7))
	// The side element emits its count (2), then its value to the side output.
	if got := millracetest.JSON(out.Values()); got != `[1,2,{"do":"side"}]` {
		t.Errorf("values %s", got)
	}
	if out.Outputs[2].To != "rejects" || millracetest.JSON(out.Outputs[2].Key) != `"other"` || out.Outputs[2].Timestamp != 99 {
		t.Errorf("side output %+v", out.Outputs[2])
	}
	if out.Outputs[0].To != "" || out.Outputs[0].Source != 0 || out.Outputs[1].Source != 3 {
		t.Errorf("outputs %+v", out.Outputs)
	}
	messages := map[uint32]string{}
	for _, e := range out.Errors {
		messages[e.Index] = e.Message
	}
	if messages[1] != "refused" || !strings.HasPrefix(messages[2], "panic: assignment to entry in nil map (at runner_test.go:") ||
		!strings.HasPrefix(messages[5], "cannot read the value: ") || !strings.Contains(messages[4], "func") || len(messages) != 4 {
		t.Errorf("errors %q", messages)
	}
	slot := millracetest.Slot{Key: `"k"`, Window: millrace.GlobalWindow}
	if got := string(fn.State()[slot]["n"]); got != "2" {
		t.Errorf("only the good elements counted: %s", got)
	}
	fired := fn.AdvanceWatermark(100)
	if got := millracetest.JSON(fired.Values()); got != `["t"]` || fired.Outputs[0].Timestamp != 14 {
		t.Errorf("fired %s %+v", got, fired.Outputs)
	}
	if len(fn.State()) != 0 || fn.Metrics().Counters["fired"] != 1 {
		t.Errorf("state %v, counters %v", fn.State(), fn.Metrics().Counters)
	}
}

// bulk emits each value, rejects odd numbers and fails the whole batch when a value
// is 13.
type bulk struct{}

func (bulk) ProcessBatch(b *millrace.Batch[int64]) error {
	for i, v := range b.Values {
		b.Element(i).SetState("seen", []byte{1})
		if err := b.Emit(i, v); err != nil {
			return err
		}
		if v == 13 {
			return errors.New("unlucky")
		}
		if v%2 != 0 {
			b.Reject(i, "odd")
		}
	}
	return nil
}

func newBulk(millrace.Config) (millrace.BatchDoFn[int64], error) { return bulk{}, nil }

func TestTheBulkPathRejectsAndFallsBackElementByElement(t *testing.T) {
	fn := millracetest.NewBatchDoFn(t, newBulk, nil)
	values := func(vs ...any) []millracetest.Input {
		var in []millracetest.Input
		for _, v := range vs {
			in = append(in, millracetest.Input{Key: v, Value: v})
		}
		return in
	}
	out := fn.Process(values(2, 3, "x", 4)...)
	if got := millracetest.JSON(out.Values()); got != "[2,4]" {
		t.Errorf("values %s", got)
	}
	if len(out.Errors) != 2 || out.Errors[0].Index != 1 || out.Errors[0].Message != "odd" || out.Errors[1].Index != 2 {
		t.Errorf("errors %v", out.Errors)
	}
	if len(fn.State()) != 2 {
		t.Errorf("state of the accepted elements only: %v", fn.State())
	}
	out = fn.Process(values(6, 13, 7, 8)...)
	if got := millracetest.JSON(out.Values()); got != "[6,8]" {
		t.Errorf("values %s", got)
	}
	if len(out.Errors) != 2 || out.Errors[0].Message != "unlucky" || out.Errors[1].Message != "odd" {
		t.Errorf("errors %v", out.Errors)
	}
}

// bag is a CombineFn whose accumulator a failing AddInput changes in place.
type bag struct{}

func (bag) CreateAccumulator() map[string]int64 { return map[string]int64{} }

func (bag) AddInput(acc map[string]int64, s string) (map[string]int64, error) {
	acc[s]++
	if s == "bad" {
		return acc, errors.New("bad input")
	}
	return acc, nil
}

func (bag) MergeAccumulators(accs []map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, acc := range accs {
		for k, v := range acc {
			out[k] += v
		}
	}
	return out
}

func (bag) ExtractOutput(acc map[string]int64) map[string]int64 {
	if acc["boom"] > 0 {
		panic("cannot extract")
	}
	return acc
}

func newBag(millrace.Config) (millrace.CombineFn[string, map[string]int64, map[string]int64], error) {
	return bag{}, nil
}

func TestARejectedInputIsAsIfNeverGiven(t *testing.T) {
	fn := millracetest.NewCombine(t, newBag, nil)
	if fn.Format() != "json/map[string]int64/1" || fn.Inversion() != millrace.NotInvertible {
		t.Errorf("format %q, inversion %v", fn.Format(), fn.Inversion())
	}
	acc, rejected := fn.Add(fn.Create(), "a", "bad", "b", 3, "a")
	if len(rejected) != 2 || rejected[0].Message != "bad input" || !strings.HasPrefix(rejected[1].Message, "cannot read the value: ") {
		t.Errorf("rejected %v", rejected)
	}
	if got := millracetest.JSON(fn.Extract(acc)); got != `{"a":2,"b":1}` {
		t.Errorf("got %s", got)
	}
	merged := fn.Merge(acc, acc, fn.Create())
	if got := millracetest.JSON(fn.Extract(merged)); got != `{"a":4,"b":2}` {
		t.Errorf("merged %s", got)
	}
	if got := millracetest.JSON(fn.Extract(fn.Merge())); got != `{}` {
		t.Errorf("an empty merge is a fresh accumulator: %s", got)
	}
}

func TestAPanicInACallFailsTheCall(t *testing.T) {
	runner, err := millrace.NewCombineRunner(newBag, millrace.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var accs millrace.Blobs
	accs.Push([]byte(`{"boom":1}`))
	if _, err := runner.Extract(accs); err == nil || !strings.HasPrefix(err.Error(), "panic: cannot extract (at runner_test.go:") {
		t.Errorf("err %v", err)
	}
	if _, _, err := runner.Add(accs, millrace.Blobs{}, []uint32{0}, true); err == nil {
		t.Error("a CombineFn without Uncombine cannot take inputs back")
	}
}

// sessions is a merging window function: windows of 10 after each element, merged
// when they overlap.
type sessions struct{}

func (sessions) Assign(e *millrace.Element[any]) ([]millrace.Window, error) {
	if e.Timestamp < 0 {
		return nil, errors.New("before the epoch")
	}
	return []millrace.Window{{Start: e.Timestamp, End: e.Timestamp + 10}}, nil
}

func (sessions) Merge(windows []millrace.Window) ([]millrace.Merge, error) {
	if len(windows) < 2 || windows[1].Start >= windows[0].End {
		return nil, nil
	}
	return []millrace.Merge{{Members: []int{0, 1}, Window: millrace.Window{Start: windows[0].Start, End: windows[1].End}}}, nil
}

func newSessions(millrace.Config) (millrace.WindowFn[any], error) { return sessions{}, nil }

func TestWindowFunctionsAssignAndMerge(t *testing.T) {
	fn := millracetest.NewWindow(t, newSessions, nil)
	windows, err := fn.Assign(millracetest.At("a", 5))
	if err != nil || windows[0][0] != (millrace.Window{Start: 5, End: 15}) || !fn.Merging() {
		t.Errorf("windows %v %v", windows, err)
	}
	if _, err := fn.Assign(millracetest.At("a", 1), millracetest.At("b", -1)); err == nil || err.Error() != "element 1: before the epoch" {
		t.Errorf("err %v", err)
	}
	merges, err := fn.Merge(millrace.Window{Start: 0, End: 10}, millrace.Window{Start: 5, End: 15})
	if err != nil || len(merges) != 1 || merges[0].Window != (millrace.Window{Start: 0, End: 15}) {
		t.Errorf("merges %v %v", merges, err)
	}
}

func TestStateOutsideABatchOfADoFnIsRefused(t *testing.T) {
	e := millrace.NewElement[any](nil, 1, 0, millrace.GlobalWindow)
	defer func() {
		if p := recover(); p != millrace.ErrNoState {
			t.Errorf("recovered %v", p)
		}
	}()
	e.State("x")
}
