// Package millracetest runs plugins natively (go test), through the same batch
// code the component runs, with the host's bookkeeping in memory: values are
// encoded to JSON and decoded again as the host would hand them over, accumulators
// and state pass through their codecs, and a DoFn's keyed state and timers are kept
// between calls.
//
//	func TestSums(t *testing.T) {
//		sum := millracetest.NewCombine(t, New, nil)
//		total, rejected := sum.Add(sum.Create(), 5, 7, "x")
//		// rejected: [{2 expected a JSON number}]
//		if got := millracetest.JSON(sum.Extract(total)); got != "12" { … }
//	}
package millracetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"millrace.local/millrace"
)

// Input is an element handed to a harness. Key and Value are Go values (encoded to
// JSON on the way in, as the host sends them); the zero Window is the global window.
type Input struct {
	Key       any
	Value     any
	Timestamp int64
	Window    millrace.Window
}

// Value is an input of value v (null key, time 0, the global window).
func Value(v any) Input { return Input{Value: v} }

// At is an input of value v at event time ts.
func At(v any, ts int64) Input { return Input{Value: v, Timestamp: ts} }

func (in Input) window() millrace.Window {
	if in.Window == (millrace.Window{}) {
		return millrace.GlobalWindow
	}
	return in.Window
}

// JSON is v's compact JSON text (map keys sorted): handy to compare decoded values,
// whose numbers are json.Number.
func JSON(v any) string {
	data, err := millrace.AppendJSON(nil, v)
	if err != nil {
		return fmt.Sprintf("<not JSON: %v>", err)
	}
	return string(data)
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	data, err := millrace.AppendJSON(nil, v)
	if err != nil {
		t.Fatalf("millracetest: %#v is not JSON: %v", v, err)
	}
	return data
}

func decode(t testing.TB, data []byte) any {
	t.Helper()
	v, err := millrace.ParseJSON(data)
	if err != nil {
		t.Fatalf("millracetest: the plugin produced invalid JSON %q: %v", data, err)
	}
	return v
}

func config(t testing.TB, settings map[string]any) millrace.Config {
	t.Helper()
	c, err := millrace.NewConfig(settings)
	if err != nil {
		t.Fatalf("millracetest: the config is not JSON: %v", err)
	}
	return c
}

func elements(t testing.TB, inputs []Input) millrace.Elements {
	t.Helper()
	var in millrace.Elements
	for _, input := range inputs {
		in.Keys.Push(encode(t, input.Key))
		in.Values.Push(encode(t, input.Value))
		in.Timestamps = append(in.Timestamps, input.Timestamp)
		w := input.window()
		in.WindowStarts = append(in.WindowStarts, w.Start)
		in.WindowEnds = append(in.WindowEnds, w.End)
	}
	return in
}

// -- Metrics ---------------------------------------------------------------------------

// Metrics records what a plugin logged and counted.
type Metrics struct {
	Logs     []string
	Counters map[string]uint64
	Gauges   map[string]float64
}

func (m *Metrics) Log(level millrace.Level, message string) {
	m.Logs = append(m.Logs, fmt.Sprintf("[%s] %s", level, message))
}

func (m *Metrics) CounterAdd(name string, delta uint64) { m.Counters[name] += delta }

func (m *Metrics) GaugeSet(name string, value float64) { m.Gauges[name] = value }

func install(t testing.TB) *Metrics {
	m := &Metrics{Counters: map[string]uint64{}, Gauges: map[string]float64{}}
	previous := millrace.UseHost(m)
	t.Cleanup(func() { millrace.UseHost(previous) })
	return m
}

// -- DoFn ------------------------------------------------------------------------------

// Record is an element a DoFn emitted.
type Record struct {
	Key       any
	Value     any
	Timestamp int64
	// Source is the index of the input (or fired timer) it came from.
	Source int
	// To is the side output it went to; "" for the main output.
	To string
}

// Processed is what a DoFn call gave back.
type Processed struct {
	Outputs []Record
	// Errors are the inputs (or timers) it could not handle, as dead-lettered.
	Errors []millrace.ElementError
}

// Values are the emitted values, in order.
func (p Processed) Values() []any {
	out := make([]any, len(p.Outputs))
	for i, r := range p.Outputs {
		out[i] = r.Value
	}
	return out
}

// Slot is a key (as JSON text) and a window: what keyed state belongs to.
type Slot struct {
	Key    string
	Window millrace.Window
}

// TimerInfo is a pending timer.
type TimerInfo struct {
	Processing bool // else event time
	Time       int64
}

type timerKey struct {
	slot Slot
	name string
}

// memory is keyed state and timers as the host keeps them; a call's indexes name
// the slots of the current batch.
type memory struct {
	cells  map[Slot]map[string][]byte
	timers map[timerKey]TimerInfo
	batch  []Slot
}

func (m *memory) Get(i uint32, name string) ([]byte, bool) {
	v, ok := m.cells[m.batch[i]][name]
	return v, ok
}

func (m *memory) Set(i uint32, name string, value []byte) {
	slot := m.batch[i]
	if m.cells[slot] == nil {
		m.cells[slot] = map[string][]byte{}
	}
	m.cells[slot][name] = slices.Clone(value)
}

func (m *memory) Clear(i uint32, name string) {
	slot := m.batch[i]
	delete(m.cells[slot], name)
	if len(m.cells[slot]) == 0 {
		delete(m.cells, slot)
	}
}

func (m *memory) SetEventTimer(i uint32, name string, time int64) {
	m.timers[timerKey{m.batch[i], name}] = TimerInfo{false, time}
}

func (m *memory) SetProcessingTimer(i uint32, name string, time int64) {
	m.timers[timerKey{m.batch[i], name}] = TimerInfo{true, time}
}

func (m *memory) ClearTimer(i uint32, name string) {
	delete(m.timers, timerKey{m.batch[i], name})
}

// DoFn runs a DoFn as a pardo step would, with keyed state and timers.
type DoFn struct {
	t       testing.TB
	runner  millrace.DoFnRunner
	memory  *memory
	metrics *Metrics
	// MaxRounds bounds the rounds of timers that set timers already due.
	MaxRounds int
}

// NewDoFn builds the DoFn that factory builds from settings; a refused config
// fails the test (use NewDoFnErr to test it).
func NewDoFn[In any](t testing.TB, factory func(millrace.Config) (millrace.DoFn[In], error), settings map[string]any) *DoFn {
	t.Helper()
	h, err := NewDoFnErr(t, factory, settings)
	if err != nil {
		t.Fatalf("the DoFn refused its config: %v", err)
	}
	return h
}

// NewDoFnErr is NewDoFn that returns the constructor's error.
func NewDoFnErr[In any](t testing.TB, factory func(millrace.Config) (millrace.DoFn[In], error), settings map[string]any) (*DoFn, error) {
	t.Helper()
	metrics := install(t)
	runner, err := millrace.NewDoFnRunner(factory, config(t, settings))
	if err != nil {
		return nil, err
	}
	return newDoFn(t, runner, metrics), nil
}

// NewBatchDoFn is NewDoFn for a DoFn of the bulk path.
func NewBatchDoFn[In any](t testing.TB, factory func(millrace.Config) (millrace.BatchDoFn[In], error), settings map[string]any) *DoFn {
	t.Helper()
	metrics := install(t)
	runner, err := millrace.NewBatchDoFnRunner(factory, config(t, settings))
	if err != nil {
		t.Fatalf("the DoFn refused its config: %v", err)
	}
	return newDoFn(t, runner, metrics)
}

func newDoFn(t testing.TB, runner millrace.DoFnRunner, metrics *Metrics) *DoFn {
	return &DoFn{
		t: t, runner: runner, metrics: metrics, MaxRounds: 1000,
		memory: &memory{cells: map[Slot]map[string][]byte{}, timers: map[timerKey]TimerInfo{}},
	}
}

// Metrics are what the DoFn logged and counted.
func (h *DoFn) Metrics() *Metrics { return h.metrics }

// State is the state held: cells by name, per slot.
func (h *DoFn) State() map[Slot]map[string][]byte { return h.memory.cells }

// Timers are the pending timers.
func (h *DoFn) Timers() map[Slot]map[string]TimerInfo {
	out := map[Slot]map[string]TimerInfo{}
	for k, v := range h.memory.timers {
		if out[k.slot] == nil {
			out[k.slot] = map[string]TimerInfo{}
		}
		out[k.slot][k.name] = v
	}
	return out
}

func (h *DoFn) processed(out *millrace.Output, err error) Processed {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("the DoFn's call failed: %v", err)
	}
	var p Processed
	for i := range out.Timestamps {
		record := Record{
			Key:       decode(h.t, out.Keys.Item(i)),
			Value:     decode(h.t, out.Values.Item(i)),
			Timestamp: out.Timestamps[i],
			Source:    int(out.Sources[i]),
		}
		if out.Tags.Len() > 0 {
			record.To = string(out.Tags.Item(i))
		}
		p.Outputs = append(p.Outputs, record)
	}
	p.Errors = out.Errors
	return p
}

// Process processes one batch.
func (h *DoFn) Process(inputs ...Input) Processed {
	h.t.Helper()
	in := elements(h.t, inputs)
	h.memory.batch = h.memory.batch[:0]
	for i, input := range inputs {
		h.memory.batch = append(h.memory.batch, Slot{string(in.Keys.Item(i)), input.window()})
	}
	return h.processed(h.runner.Process(h.memory, in))
}

// AdvanceWatermark fires the event-time timers before watermark, round after round,
// as the host does.
func (h *DoFn) AdvanceWatermark(watermark int64) Processed {
	h.t.Helper()
	return h.fire(false, watermark)
}

// AdvanceProcessingTime fires the processing-time timers before now.
func (h *DoFn) AdvanceProcessingTime(now int64) Processed {
	h.t.Helper()
	return h.fire(true, now)
}

func (h *DoFn) fire(processing bool, bound int64) Processed {
	h.t.Helper()
	var all Processed
	for round := 0; round < h.MaxRounds; round++ {
		type due struct {
			timerKey
			time int64
		}
		var fired []due
		for k, info := range h.memory.timers {
			if info.Processing == processing && info.Time < bound {
				fired = append(fired, due{k, info.Time})
			}
		}
		if len(fired) == 0 {
			return all
		}
		slices.SortFunc(fired, func(a, b due) int {
			return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.slot.Key, b.slot.Key),
				cmp.Compare(a.slot.Window.Start, b.slot.Window.Start), cmp.Compare(a.name, b.name))
		})
		var timers millrace.FiredTimers
		h.memory.batch = h.memory.batch[:0]
		for _, d := range fired {
			delete(h.memory.timers, d.timerKey)
			h.memory.batch = append(h.memory.batch, d.slot)
			timers.Keys.Push([]byte(d.slot.Key))
			timers.WindowStarts = append(timers.WindowStarts, d.slot.Window.Start)
			timers.WindowEnds = append(timers.WindowEnds, d.slot.Window.End)
			timers.Names = append(timers.Names, d.name)
			timers.Times = append(timers.Times, d.time)
		}
		p := h.processed(h.runner.OnTimer(h.memory, timers))
		all.Outputs = append(all.Outputs, p.Outputs...)
		all.Errors = append(all.Errors, p.Errors...)
	}
	h.t.Fatalf("timers kept setting timers that were already due, %d rounds", h.MaxRounds)
	return all
}

// -- CombineFn -------------------------------------------------------------------------

// Combine runs a CombineFn as a combine step would: accumulators pass through their
// codec between every call.
type Combine struct {
	t      testing.TB
	runner millrace.CombineRunner
}

// NewCombine builds the CombineFn that factory builds from settings.
func NewCombine[In, Acc, Out any](t testing.TB, factory func(millrace.Config) (millrace.CombineFn[In, Acc, Out], error), settings map[string]any) *Combine {
	t.Helper()
	install(t)
	runner, err := millrace.NewCombineRunner(factory, config(t, settings))
	if err != nil {
		t.Fatalf("the CombineFn refused its config: %v", err)
	}
	return &Combine{t, runner}
}

// Format is the accumulator format the host sees, and compares on a hot swap.
func (h *Combine) Format() string { return h.runner.Info().AccumulatorFormat }

// Inversion is how the function takes inputs back.
func (h *Combine) Inversion() millrace.Inversion { return h.runner.Info().Inversion }

// Create is a fresh accumulator, encoded.
func (h *Combine) Create() []byte {
	h.t.Helper()
	data, err := h.runner.CreateAccumulator()
	if err != nil {
		h.t.Fatalf("create-accumulator failed: %v", err)
	}
	return data
}

func (h *Combine) add(acc []byte, inputs []any, retract bool) ([]byte, []millrace.ElementError) {
	h.t.Helper()
	var accs, values millrace.Blobs
	accs.Push(acc)
	for _, v := range inputs {
		values.Push(encode(h.t, v))
	}
	out, rejected, err := h.runner.Add(accs, values, []uint32{uint32(len(inputs))}, retract)
	if err != nil {
		h.t.Fatalf("the call failed: %v", err)
	}
	return out.Item(0), rejected
}

// Add is the accumulator with inputs added, and the rejected inputs.
func (h *Combine) Add(acc []byte, inputs ...any) ([]byte, []millrace.ElementError) {
	h.t.Helper()
	return h.add(acc, inputs, false)
}

// Retract is the accumulator with inputs taken back, and the rejected inputs.
func (h *Combine) Retract(acc []byte, inputs ...any) ([]byte, []millrace.ElementError) {
	h.t.Helper()
	return h.add(acc, inputs, true)
}

// Merge is one accumulator merging accs.
func (h *Combine) Merge(accs ...[]byte) []byte {
	h.t.Helper()
	var in millrace.Blobs
	for _, acc := range accs {
		in.Push(acc)
	}
	out, err := h.runner.Merge(in, []uint32{uint32(len(accs))})
	if err != nil {
		h.t.Fatalf("merge-accumulators failed: %v", err)
	}
	return out.Item(0)
}

// Extract is the output of acc, decoded.
func (h *Combine) Extract(acc []byte) any {
	h.t.Helper()
	var in millrace.Blobs
	in.Push(acc)
	out, err := h.runner.Extract(in)
	if err != nil {
		h.t.Fatalf("extract-outputs failed: %v", err)
	}
	return decode(h.t, out.Item(0))
}

// Combine is the output for inputs, which must all be accepted.
func (h *Combine) Combine(inputs ...any) any {
	h.t.Helper()
	acc, rejected := h.Add(h.Create(), inputs...)
	if len(rejected) > 0 {
		h.t.Fatalf("inputs were rejected: %v", rejected)
	}
	return h.Extract(acc)
}

// -- Window functions ------------------------------------------------------------------

// Window runs a WindowFn as a window: {custom: …} step would.
type Window struct {
	t      testing.TB
	runner millrace.WindowRunner
}

// NewWindow builds the WindowFn that factory builds from settings.
func NewWindow[In any](t testing.TB, factory func(millrace.Config) (millrace.WindowFn[In], error), settings map[string]any) *Window {
	t.Helper()
	install(t)
	runner, err := millrace.NewWindowRunner(factory, config(t, settings))
	if err != nil {
		t.Fatalf("the WindowFn refused its config: %v", err)
	}
	return &Window{t, runner}
}

// Merging reports whether the function merges windows.
func (h *Window) Merging() bool { return h.runner.Merging() }

// Assign is the windows of each input.
func (h *Window) Assign(inputs ...Input) ([][]millrace.Window, error) {
	h.t.Helper()
	out, err := h.runner.Assign(elements(h.t, inputs))
	if err != nil {
		return nil, err
	}
	windows := make([][]millrace.Window, len(inputs))
	for i, source := range out.Sources {
		windows[source] = append(windows[source], millrace.Window{Start: out.Starts[i], End: out.Ends[i]})
	}
	return windows, nil
}

// Merge is the merges among one key's windows.
func (h *Window) Merge(windows ...millrace.Window) ([]millrace.Merge, error) {
	h.t.Helper()
	var starts, ends []int64
	for _, w := range windows {
		starts = append(starts, w.Start)
		ends = append(ends, w.End)
	}
	out, err := h.runner.Merge(starts, ends, []uint32{uint32(len(windows))})
	if err != nil {
		return nil, err
	}
	var merges []millrace.Merge
	start := uint32(0)
	for m, end := range out.MemberEnds {
		var members []int
		for _, member := range out.Members[start:end] {
			members = append(members, int(member))
		}
		merges = append(merges, millrace.Merge{Members: members, Window: millrace.Window{Start: out.Starts[m], End: out.Ends[m]}})
		start = end
	}
	return merges, nil
}

// -- Triggers --------------------------------------------------------------------------

// Trigger runs a data-driven trigger, keeping its state per window between calls.
type Trigger struct {
	t      testing.TB
	runner millrace.TriggerRunner
	states map[millrace.Window][]byte
}

// NewTrigger builds the Trigger that factory builds from settings.
func NewTrigger[In, S any](t testing.TB, factory func(millrace.Config) (millrace.Trigger[In, S], error), settings map[string]any) *Trigger {
	t.Helper()
	install(t)
	runner, err := millrace.NewTriggerRunner(factory, config(t, settings))
	if err != nil {
		t.Fatalf("the Trigger refused its config: %v", err)
	}
	return &Trigger{t, runner, map[millrace.Window][]byte{}}
}

// State is the window's state bytes (nil before it saw anything).
func (h *Trigger) State(window millrace.Window) []byte { return h.states[window] }

// OnElements hands values to the global window's pane: whether it fires.
func (h *Trigger) OnElements(values ...any) bool {
	h.t.Helper()
	return h.OnElementsIn(millrace.GlobalWindow, values...)
}

// OnElementsIn hands values to window's pane: whether it fires.
func (h *Trigger) OnElementsIn(window millrace.Window, values ...any) bool {
	h.t.Helper()
	inputs := make([]Input, len(values))
	for i, v := range values {
		inputs[i] = Input{Value: v, Window: window}
	}
	var states millrace.Blobs
	states.Push(h.states[window])
	out, fire, err := h.runner.OnElements(states, elements(h.t, inputs), []uint32{uint32(len(values))})
	if err != nil {
		h.t.Fatalf("on-elements failed: %v", err)
	}
	h.states[window] = slices.Clone(out.Item(0))
	return fire[0]
}
