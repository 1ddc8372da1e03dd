package millrace

// The four kinds of plugin and what their methods see.

// DoFn turns each element into zero or more elements (pardo steps). Register it
// with dofn.Export.
//
// Process handles one element: it emits with out (the element's key and event time
// unless it says otherwise) and may read and write the keyed state and timers of
// the element's key and window (e.State, e.SetState, e.SetEventTimer, …). A returned
// error dead-letters the element with err.Error(), and a panic with "panic: …";
// either way what it emitted and its state and timer writes are taken back, and the
// rest of the batch carries on. A DoFn that also has OnTimer (TimerHandler) handles
// the timers it set.
type DoFn[In any] interface {
	Process(e *Element[In], out *Emitter) error
}

// BatchDoFn is the bulk path of a DoFn: ProcessBatch gets a whole batch at once
// (register it with dofn.ExportBatch). It emits with b.Out(i) for element i,
// refuses element i with b.Reject(i, reason) (taking back what it emitted and its
// state writes) and reaches state with b.Element(i). If it returns an error or
// panics, the batch is taken back and each element is run again in a batch of its
// own, so that only the elements that fail are dead-lettered.
type BatchDoFn[In any] interface {
	ProcessBatch(b *Batch[In]) error
}

// TimerHandler is a DoFn (or BatchDoFn) that handles the timers it set: what
// OnTimer emits takes the timer's key, window and time unless it says otherwise.
type TimerHandler interface {
	OnTimer(t *Timer, out *Emitter) error
}

// CombineFn folds the values of a (key, window) into an accumulator, and the
// accumulator into the pane's value (combine steps). Register it with
// combine.Export.
//
// AddInput returns the accumulator with input added; an error (or a panic) rejects
// the input, which is dead-lettered, and its group's accumulator is as if it had
// never been given (the SDK starts the group again from the stored accumulator,
// even if AddInput changed a map or slice in place). MergeAccumulators merges the
// accumulators of merging windows; ExtractOutput is the pane's value (encoded as
// JSON).
//
// Optional methods: Uncombine(acc, input) (Acc, error) with Inversion() Inversion
// (Subtract or Remove) takes retracted inputs back ([Uncombiner], [Invertible]);
// AddInputs(acc, inputs) (Acc, error) adds a group's inputs at once, the bulk path
// ([BulkAdder]; if it fails the inputs are added one by one); AccumulatorCodec()
// Codec[Acc] says how accumulators become bytes (JSON by default; see package
// postcard for the Rust SDK's bytes); AccumulatorFormat() string names their shape
// (default "<Go type of Acc>/1"). The host sees "<codec format>/<accumulator
// format>" and refuses to hot-swap in a version whose format or inversion differs.
type CombineFn[In, Acc, Out any] interface {
	CreateAccumulator() Acc
	AddInput(acc Acc, input In) (Acc, error)
	MergeAccumulators(accs []Acc) Acc
	ExtractOutput(acc Acc) Out
}

// Uncombiner is a CombineFn that can take retracted inputs back out.
type Uncombiner[In, Acc any] interface {
	Uncombine(acc Acc, input In) (Acc, error)
}

// Invertible says how Uncombine takes inputs back; without it, NotInvertible.
type Invertible interface {
	Inversion() Inversion
}

// BulkAdder is the bulk path of a CombineFn: one call per group of a batch.
type BulkAdder[In, Acc any] interface {
	AddInputs(acc Acc, inputs []In) (Acc, error)
}

// AccumulatorCoder gives a CombineFn's accumulator codec (JSON by default).
type AccumulatorCoder[Acc any] interface {
	AccumulatorCodec() Codec[Acc]
}

// AccumulatorFormatter names the accumulator's shape (default "<Go type>/1");
// change it whenever the shape changes.
type AccumulatorFormatter interface {
	AccumulatorFormat() string
}

// WindowFn is a custom window function (window: {custom: …}). Register it with
// window.Export. Assign gives an element's windows (none, one or several); an error
// fails the call, naming the element. A window function that also has Merge
// ([Merger]) merges windows, as sessions do.
type WindowFn[In any] interface {
	Assign(e *Element[In]) ([]Window, error)
}

// Merger is a merging window function: Merge says which of one key's windows merge.
type Merger interface {
	Merge(windows []Window) ([]Merge, error)
}

// Merge is one merge: the indexes (into Merge's windows) of its members, and the
// window they become.
type Merge struct {
	Members []int
	Window  Window
}

// Trigger is a data-driven trigger: it decides from arriving elements when a window
// fires (register it with trigger.Export). It keeps a state per window, which lives
// as long as the window, across firings: reset it when firing if it describes one
// pane. OnElements gets a window's state, the window and its new elements, and
// returns whether the window fires now and its new state; an error fails the call.
//
// Optional methods: InitialState() S (the state of a window that saw nothing yet;
// the zero S by default) and StateCodec() Codec[S] (JSON by default).
type Trigger[In, S any] interface {
	OnElements(state S, window Window, elements []Element[In]) (fire bool, next S, err error)
}

// InitialStater gives a trigger's initial state.
type InitialStater[S any] interface {
	InitialState() S
}

// StateCoder gives a trigger's state codec.
type StateCoder[S any] interface {
	StateCodec() Codec[S]
}

// Element is an element handed to a plugin.
type Element[In any] struct {
	// Key is the element's key (nil when it has none).
	Key any
	// Value is the element's value.
	Value In
	// Timestamp is the element's event time, in milliseconds since the epoch.
	Timestamp int64
	// Window is the element's window.
	Window Window
	// Keyed reaches the keyed state and timers of the element's key and window
	// (DoFns only).
	Keyed
}

// NewElement is an element built by hand (for tests): it belongs to no batch and
// has no state.
func NewElement[In any](key any, value In, timestamp int64, window Window) Element[In] {
	return Element[In]{Key: key, Value: value, Timestamp: timestamp, Window: window}
}

// Timer is a timer that fired.
type Timer struct {
	// Key is the key it was set for.
	Key any
	// Window is the window it was set for.
	Window Window
	// Name is its name.
	Name string
	// Time is the time it was set for.
	Time int64
	// Keyed reaches the keyed state and timers of the timer's key and window.
	Keyed
}
