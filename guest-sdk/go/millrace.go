// Package millrace is the Go SDK for millrace plugins: DoFns, CombineFns, window
// functions and data-driven triggers that run as WebAssembly components.
//
// A plugin is a main package (a folder with plugin.go) that implements one of the
// four kinds and registers it from an init function with the Export of that kind's
// package, which also holds the component's exports:
//
//	import (
//		"millrace.local/millrace"
//		"millrace.local/millrace/combine"
//	)
//
//	type Sum struct{}
//
//	func (Sum) CreateAccumulator() int64 { return 0 }
//	func (Sum) AddInput(total int64, x int64) (int64, error) { return total + x, nil }
//	func (Sum) MergeAccumulators(totals []int64) int64 { ... }
//	func (Sum) ExtractOutput(total int64) int64 { return total }
//
//	func New(millrace.Config) (millrace.CombineFn[int64, int64, int64], error) { return Sum{}, nil }
//
//	func init() { combine.Export(New) }
//
//	func main() {}
//
// | kind | package | interface |
// | DoFn | millrace.local/millrace/dofn | [DoFn] (optional [TimerHandler], [BatchProcessor]) |
// | CombineFn | millrace.local/millrace/combine | [CombineFn] (optional Uncombine, AddInputs, Inversion, AccumulatorCodec, AccumulatorFormat) |
// | window function | millrace.local/millrace/window | [WindowFn] (optional [Merger]) |
// | trigger | millrace.local/millrace/trigger | [Trigger] (optional InitialState, StateCodec) |
//
// The host owns time, windows, triggers and state; the SDK hands the plugin native
// Go values (JSON decoded; into `any` as map[string]any, []any, string, json.Number,
// bool or nil) and turns what it returns into the host's column-by-column batches.
// An error returned for an element dead-letters that element with err.Error(); a
// panic is recovered per element and dead-letters it with "panic: <value> (at
// FILE:LINE in FUNCTION)"; the rest of the batch carries on. A Go runtime fatal
// error (out of memory) ends the instance, which the host re-creates.
//
// Build a plugin folder with guest-sdk/go/build.sh (or `millrace plugin build`);
// test it natively with `go test` and package millracetest.
package millrace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
)

// MinTime and MaxTime bound event time; the global window spans them.
const (
	MinTime int64 = math.MinInt64
	MaxTime int64 = math.MaxInt64
)

// A Window of event time: [Start, End) in milliseconds since the epoch.
type Window struct {
	// Start is the first instant in the window (MinTime for the global window).
	Start int64
	// End is the first instant after the window (MaxTime for the global window).
	End int64
}

// GlobalWindow covers all time.
var GlobalWindow = Window{MinTime, MaxTime}

// IsGlobal reports whether w is the global window.
func (w Window) IsGlobal() bool { return w == GlobalWindow }

// MaxTimestamp is the last instant in the window.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

func (w Window) String() string {
	if w.IsGlobal() {
		return "global"
	}
	return fmt.Sprintf("[%d, %d)", w.Start, w.End)
}

// Inversion says how a CombineFn takes retracted inputs back.
type Inversion uint8

const (
	// NotInvertible: inputs cannot be taken back; the host keeps them and recomputes.
	NotInvertible Inversion = iota
	// Subtract: Uncombine takes any input back, even one the accumulator never held
	// (sums, counts).
	Subtract
	// Remove: Uncombine removes an input the accumulator holds (collections).
	Remove
)

func (i Inversion) String() string {
	switch i {
	case Subtract:
		return "subtract"
	case Remove:
		return "remove"
	}
	return "none"
}

// Config is the step's configuration: the spec's `config` for the plugin.
type Config struct {
	settings map[string]any
	text     []byte
}

// ParseConfig reads a configuration from the host's JSON text ("" is empty).
func ParseConfig(text []byte) (Config, error) {
	if len(text) == 0 {
		return Config{settings: map[string]any{}, text: []byte("{}")}, nil
	}
	value, err := ParseJSON(text)
	if err != nil {
		return Config{}, fmt.Errorf("config: %v", err)
	}
	if value == nil {
		return Config{settings: map[string]any{}, text: []byte("{}")}, nil
	}
	settings, ok := value.(map[string]any)
	if !ok {
		return Config{}, fmt.Errorf("config must be a map, not %s", text)
	}
	return Config{settings: settings, text: slices.Clone(text)}, nil
}

// NewConfig is a configuration from Go values (for tests and native use).
func NewConfig(settings map[string]any) (Config, error) {
	text, err := AppendJSON(nil, settings)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(text)
}

// JSON is the configuration's JSON text.
func (c Config) JSON() []byte { return c.text }

// Map is the configuration, decoded (do not change it).
func (c Config) Map() map[string]any { return c.settings }

// Has reports whether the setting name is present and not null.
func (c Config) Has(name string) bool { return c.settings[name] != nil }

// Get is the setting name decoded into `any` (nil when absent).
func (c Config) Get(name string) any { return c.settings[name] }

// Require stores the setting name into the value into points to (a *string,
// *int64, *int, *float64, *bool, or anything encoding/json decodes); a missing
// setting or one of the wrong type is an error that names it. A float64 accepts an
// integer; an integer refuses a fraction.
func (c Config) Require(name string, into any) error {
	if !c.Has(name) {
		return fmt.Errorf("config %s is required", quote(name))
	}
	return c.Optional(name, into)
}

// Optional is Require for a setting that may be absent (or null): into is then left
// as it is, holding its default.
func (c Config) Optional(name string, into any) error {
	value := c.settings[name]
	if value == nil {
		return nil
	}
	if err := convert(value, into); err != nil {
		return fmt.Errorf("config %s: %v", quote(name), err)
	}
	return nil
}

// AllowOnly refuses settings other than names, naming the first unknown one.
func (c Config) AllowOnly(names ...string) error {
	keys := make([]string, 0, len(c.settings))
	for name := range c.settings {
		keys = append(keys, name)
	}
	slices.Sort(keys)
	for _, name := range keys {
		if !slices.Contains(names, name) {
			expected := make([]string, len(names))
			for i, n := range names {
				expected[i] = quote(n)
			}
			return fmt.Errorf("config: unknown setting %s, expected one of %s", quote(name), joinComma(expected))
		}
	}
	return nil
}

// Decode decodes the whole configuration into a struct (encoding/json, unknown
// fields refused).
func (c Config) Decode(into any) error {
	decoder := json.NewDecoder(bytes.NewReader(c.text))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		return fmt.Errorf("config: %v", err)
	}
	return nil
}

func joinComma(items []string) string {
	out := ""
	for i, item := range items {
		if i > 0 {
			out += ", "
		}
		out += item
	}
	return out
}

// quote is name in double quotes, as the Rust SDK's messages quote it.
func quote(name string) string { return string(appendString(nil, name)) }

// convert stores a decoded JSON value into a Go pointer, with messages in the words
// of the Python SDK ("expected an integer, got a string").
func convert(value any, into any) error {
	switch p := into.(type) {
	case *any:
		*p = value
		return nil
	case *string:
		if s, ok := value.(string); ok {
			*p = s
			return nil
		}
		return mismatch("a string", value)
	case *bool:
		if b, ok := value.(bool); ok {
			*p = b
			return nil
		}
		return mismatch("a boolean", value)
	case *int64:
		if n, ok := AsInt(value); ok {
			*p = n
			return nil
		}
		return mismatch("an integer", value)
	case *int:
		if n, ok := AsInt(value); ok && int64(int(n)) == n {
			*p = int(n)
			return nil
		}
		return mismatch("an integer", value)
	case *float64:
		if f, ok := AsFloat(value); ok {
			*p = f
			return nil
		}
		return mismatch("a number", value)
	case *map[string]any:
		if m, ok := value.(map[string]any); ok {
			*p = m
			return nil
		}
		return mismatch("a map", value)
	case *[]any:
		if l, ok := value.([]any); ok {
			*p = l
			return nil
		}
		return mismatch("a list", value)
	case *json.Number:
		if n, ok := value.(json.Number); ok {
			*p = n
			return nil
		}
		return mismatch("a number", value)
	}
	text, err := AppendJSON(nil, value)
	if err != nil {
		return err
	}
	return json.Unmarshal(text, into)
}

func mismatch(expected string, value any) error {
	return fmt.Errorf("expected %s, got %s", expected, jsonType(value))
}

func jsonType(value any) string {
	switch x := value.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		if isIntegerLiteral(string(x)) {
			return "an integer"
		}
		return "a number"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", value)
}

// Level says how important a log message is.
type Level uint8

const (
	Trace Level = iota
	Debug
	Info
	Warn
	Error
)

func (l Level) String() string {
	switch l {
	case Trace:
		return "TRACE"
	case Debug:
		return "DEBUG"
	case Info:
		return "INFO"
	case Warn:
		return "WARN"
	}
	return "ERROR"
}

// Host is what the host offers every plugin besides its batches: the log and the
// step's metrics. Inside a component it is the host's imports; natively (tests) the
// log goes to stderr and metrics are dropped, unless a harness installs its own.
type Host interface {
	Log(level Level, message string)
	CounterAdd(name string, delta uint64)
	GaugeSet(name string, value float64)
}

// UseHost installs h as the host (for test harnesses) and returns the previous one.
func UseHost(h Host) Host {
	flushMetrics()
	previous := host
	host = h
	return previous
}

// Log writes message to the host's log, tagged with the step and the plugin.
func Log(level Level, message string) { host.Log(level, message) }

// Logf writes a formatted message to the host's log.
func Logf(level Level, format string, args ...any) {
	host.Log(level, fmt.Sprintf(format, args...))
}

// CounterAdd adds delta to the step's counter name. The SDK adds up the deltas of a
// call and passes each counter to the host once, when the call ends.
func CounterAdd(name string, delta uint64) {
	if pending.counters == nil {
		pending.counters = map[string]uint64{}
		pending.order = pending.order[:0]
	}
	if _, ok := pending.counters[name]; !ok {
		pending.order = append(pending.order, name)
	}
	pending.counters[name] += delta
	if !inCall {
		flushMetrics()
	}
}

// GaugeSet sets the step's gauge name; as with counters, the host sees the last
// value of a call when the call ends.
func GaugeSet(name string, value float64) {
	if pending.gauges == nil {
		pending.gauges = map[string]float64{}
	}
	if _, ok := pending.gauges[name]; !ok {
		pending.gaugeOrder = append(pending.gaugeOrder, name)
	}
	pending.gauges[name] = value
	if !inCall {
		flushMetrics()
	}
}

var pending struct {
	counters   map[string]uint64
	order      []string
	gauges     map[string]float64
	gaugeOrder []string
}

// inCall is true while the SDK runs one of the host's calls (metrics are passed on
// when it ends).
var inCall bool

func flushMetrics() {
	if len(pending.order) > 0 {
		for _, name := range pending.order {
			host.CounterAdd(name, pending.counters[name])
		}
		clear(pending.counters)
		pending.order = pending.order[:0]
	}
	if len(pending.gaugeOrder) > 0 {
		for _, name := range pending.gaugeOrder {
			host.GaugeSet(name, pending.gauges[name])
		}
		clear(pending.gauges)
		pending.gaugeOrder = pending.gaugeOrder[:0]
	}
}

// stderrHost is the host outside a component.
type stderrHost struct{}

func (stderrHost) Log(level Level, message string) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", level, message)
}
func (stderrHost) CounterAdd(string, uint64) {}
func (stderrHost) GaugeSet(string, float64)  {}
