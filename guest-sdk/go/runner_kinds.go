package millrace

import (
	"fmt"
)

// -- CombineFn -------------------------------------------------------------------------

// CombineInfo is what the host needs to know about a CombineFn.
type CombineInfo struct {
	AccumulatorFormat string
	Inversion         Inversion
}

// CombineRunner runs a CombineFn over many (key, window) groups per call.
type CombineRunner interface {
	Info() CombineInfo
	CreateAccumulator() ([]byte, error)
	// Add adds (or, with retract, takes back) each group's inputs to its
	// accumulator: group g is inputs[groupEnds[g-1]:groupEnds[g]] and accumulator g.
	Add(accumulators, inputs Blobs, groupEnds []uint32, retract bool) (Blobs, []ElementError, error)
	Merge(accumulators Blobs, groupEnds []uint32) (Blobs, error)
	Extract(accumulators Blobs) (Blobs, error)
}

// NewCombineRunner builds the CombineFn from the step's configuration.
func NewCombineRunner[In, Acc, Out any](factory func(Config) (CombineFn[In, Acc, Out], error), config Config) (CombineRunner, error) {
	var fn CombineFn[In, Acc, Out]
	if err := guarded(func() (err error) { fn, err = factory(config); return }); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("the CombineFn's constructor returned no CombineFn")
	}
	r := &combineRunner[In, Acc, Out]{fn: fn, decode: decoderFor[In]()}
	r.codec = JSONCodec[Acc]()
	if c, ok := any(fn).(AccumulatorCoder[Acc]); ok {
		r.codec = c.AccumulatorCodec()
	}
	format := typeName[Acc]() + "/1"
	if f, ok := any(fn).(AccumulatorFormatter); ok {
		format = f.AccumulatorFormat()
	}
	r.info.AccumulatorFormat = r.codec.Format() + "/" + format
	if i, ok := any(fn).(Invertible); ok {
		r.info.Inversion = i.Inversion()
	}
	r.uncombine, _ = any(fn).(Uncombiner[In, Acc])
	if r.info.Inversion != NotInvertible && r.uncombine == nil {
		return nil, fmt.Errorf("the CombineFn's inversion is %s, but it has no Uncombine method", r.info.Inversion)
	}
	r.bulk, _ = any(fn).(BulkAdder[In, Acc])
	return r, nil
}

type combineRunner[In, Acc, Out any] struct {
	fn        CombineFn[In, Acc, Out]
	uncombine Uncombiner[In, Acc]
	bulk      BulkAdder[In, Acc]
	codec     Codec[Acc]
	decode    func([]byte) (In, error)
	info      CombineInfo
}

func (r *combineRunner[In, Acc, Out]) Info() CombineInfo { return r.info }

func (r *combineRunner[In, Acc, Out]) CreateAccumulator() (data []byte, err error) {
	startCall()
	defer endCall(&err)
	return r.codec.Encode(nil, r.fn.CreateAccumulator())
}

func (r *combineRunner[In, Acc, Out]) readAccumulator(data []byte) (Acc, error) {
	acc, err := r.codec.Decode(data)
	if err != nil {
		return acc, fmt.Errorf("cannot read the accumulator: %v", err)
	}
	return acc, nil
}

func (r *combineRunner[In, Acc, Out]) Add(accumulators, inputs Blobs, groupEnds []uint32, retract bool) (out Blobs, rejected []ElementError, err error) {
	startCall()
	defer endCall(&err)
	if retract && r.uncombine == nil {
		return out, nil, fmt.Errorf("this combine function cannot take inputs back")
	}
	if accumulators.Len() != len(groupEnds) {
		return out, nil, fmt.Errorf("%d accumulators for %d groups", accumulators.Len(), len(groupEnds))
	}
	values := make([]In, inputs.Len())
	var unreadable map[uint32]string
	for i := range values {
		v, err := r.decode(inputs.Item(i))
		if err != nil {
			if unreadable == nil {
				unreadable = map[uint32]string{}
			}
			unreadable[uint32(i)] = "cannot read the value: " + err.Error()
			continue
		}
		values[i] = v
	}
	start := uint32(0)
	readable := make([]In, 0, 16)
	indexes := make([]uint32, 0, 16)
	for g, end := range groupEnds {
		if end < start || int(end) > len(values) {
			return out, nil, fmt.Errorf("group ends past the inputs")
		}
		readable, indexes = readable[:0], indexes[:0]
		for i := start; i < end; i++ {
			if message, bad := unreadable[i]; bad {
				rejected = append(rejected, ElementError{i, message})
				continue
			}
			readable = append(readable, values[i])
			indexes = append(indexes, i)
		}
		stored := accumulators.Item(g)
		acc, err := r.fold(stored, readable, indexes, retract, &rejected)
		if err != nil {
			return out, nil, err
		}
		mark := len(out.Bytes)
		if out.Bytes, err = r.codec.Encode(out.Bytes, acc); err != nil {
			out.Bytes = out.Bytes[:mark]
			return out, nil, fmt.Errorf("cannot write the accumulator: %v", err)
		}
		out.Ends = append(out.Ends, uint32(len(out.Bytes)))
		start = end
	}
	sortErrors(rejected)
	return out, rejected, nil
}

// fold is the stored accumulator with inputs (at indexes) added or taken back;
// inputs that fail are rejected, and the accumulator is as if they had not been
// given.
func (r *combineRunner[In, Acc, Out]) fold(stored []byte, inputs []In, indexes []uint32, retract bool, rejected *[]ElementError) (Acc, error) {
	acc, err := r.readAccumulator(stored)
	if err != nil {
		return acc, err
	}
	if !retract && r.bulk != nil && len(inputs) > 0 {
		var sum Acc
		if guarded(func() (err error) { sum, err = r.bulk.AddInputs(acc, inputs); return }) == nil {
			return sum, nil
		}
		// Found input by input below, from the stored accumulator again.
		if acc, err = r.readAccumulator(stored); err != nil {
			return acc, err
		}
	}
	step := r.fn.AddInput
	if retract {
		step = r.uncombine.Uncombine
	}
	taken := make([]int, 0, len(inputs))
	for k, input := range inputs {
		var next Acc
		err := guarded(func() (err error) { next, err = step(acc, input); return })
		if err == nil {
			acc = next
			taken = append(taken, k)
			continue
		}
		*rejected = append(*rejected, ElementError{indexes[k], errorText(err)})
		// The failed call may have changed the accumulator in place: start again
		// from the stored one with the inputs taken so far.
		if acc, err = r.readAccumulator(stored); err != nil {
			return acc, err
		}
		for _, done := range taken {
			if err := guarded(func() (err error) { acc, err = step(acc, inputs[done]); return }); err != nil {
				return acc, fmt.Errorf("an input taken before failed when taken again: %v", err)
			}
		}
	}
	return acc, nil
}

func (r *combineRunner[In, Acc, Out]) Merge(accumulators Blobs, groupEnds []uint32) (out Blobs, err error) {
	startCall()
	defer endCall(&err)
	start := uint32(0)
	group := make([]Acc, 0, 8)
	for _, end := range groupEnds {
		if end < start || int(end) > accumulators.Len() {
			return out, fmt.Errorf("group ends past the accumulators")
		}
		group = group[:0]
		for i := start; i < end; i++ {
			acc, err := r.readAccumulator(accumulators.Item(int(i)))
			if err != nil {
				return out, err
			}
			group = append(group, acc)
		}
		var merged Acc
		if len(group) == 0 {
			merged = r.fn.CreateAccumulator()
		} else {
			merged = r.fn.MergeAccumulators(group)
		}
		if out.Bytes, err = r.codec.Encode(out.Bytes, merged); err != nil {
			return out, fmt.Errorf("cannot write the accumulator: %v", err)
		}
		out.Ends = append(out.Ends, uint32(len(out.Bytes)))
		start = end
	}
	return out, nil
}

func (r *combineRunner[In, Acc, Out]) Extract(accumulators Blobs) (out Blobs, err error) {
	startCall()
	defer endCall(&err)
	for i := 0; i < accumulators.Len(); i++ {
		acc, err := r.readAccumulator(accumulators.Item(i))
		if err != nil {
			return out, err
		}
		if out.Bytes, err = AppendJSON(out.Bytes, r.fn.ExtractOutput(acc)); err != nil {
			return out, fmt.Errorf("cannot write the output: %v", err)
		}
		out.Ends = append(out.Ends, uint32(len(out.Bytes)))
	}
	return out, nil
}

// -- Window functions ------------------------------------------------------------------

// Assignment is the windows of a batch's elements: window w is [Starts[w],
// Ends[w]) of element Sources[w].
type Assignment struct {
	Starts, Ends []int64
	Sources      []uint32
}

// Merges is the merges found among many keys' windows: merge m makes [Starts[m],
// Ends[m]) of the windows Members[MemberEnds[m-1]:MemberEnds[m]].
type Merges struct {
	Starts, Ends        []int64
	Members, MemberEnds []uint32
}

// WindowRunner runs a WindowFn over batches.
type WindowRunner interface {
	Merging() bool
	Assign(in Elements) (Assignment, error)
	// Merge: the windows of key k are [keyEnds[k-1], keyEnds[k]) of starts and ends.
	Merge(starts, ends []int64, keyEnds []uint32) (Merges, error)
}

// NewWindowRunner builds the WindowFn from the step's configuration.
func NewWindowRunner[In any](factory func(Config) (WindowFn[In], error), config Config) (WindowRunner, error) {
	var fn WindowFn[In]
	if err := guarded(func() (err error) { fn, err = factory(config); return }); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("the WindowFn's constructor returned no WindowFn")
	}
	merger, _ := any(fn).(Merger)
	return &windowRunner[In]{fn: fn, merger: merger, decode: decoderFor[In]()}, nil
}

type windowRunner[In any] struct {
	fn     WindowFn[In]
	merger Merger
	decode func([]byte) (In, error)
}

func (r *windowRunner[In]) Merging() bool { return r.merger != nil }

func (r *windowRunner[In]) Assign(in Elements) (out Assignment, err error) {
	startCall()
	defer endCall(&err)
	if err := in.check(); err != nil {
		return out, err
	}
	var keys keyDecoder
	for i := 0; i < in.Len(); i++ {
		value, err := r.decode(in.Values.Item(i))
		if err != nil {
			return out, fmt.Errorf("element %d: cannot read the value: %v", i, err)
		}
		element := Element[In]{
			Key:       keys.decode(in.Keys.Item(i)),
			Value:     value,
			Timestamp: in.Timestamps[i],
			Window:    Window{in.WindowStarts[i], in.WindowEnds[i]},
		}
		var windows []Window
		if err := guarded(func() (err error) { windows, err = r.fn.Assign(&element); return }); err != nil {
			return out, fmt.Errorf("element %d: %v", i, err)
		}
		for _, w := range windows {
			out.Starts = append(out.Starts, w.Start)
			out.Ends = append(out.Ends, w.End)
			out.Sources = append(out.Sources, uint32(i))
		}
	}
	return out, nil
}

func (r *windowRunner[In]) Merge(starts, ends []int64, keyEnds []uint32) (out Merges, err error) {
	startCall()
	defer endCall(&err)
	if r.merger == nil {
		return out, nil
	}
	if len(starts) != len(ends) {
		return out, fmt.Errorf("%d window starts for %d ends", len(starts), len(ends))
	}
	start := uint32(0)
	for _, end := range keyEnds {
		if end < start || int(end) > len(starts) {
			return out, fmt.Errorf("key ends past the windows")
		}
		windows := make([]Window, 0, end-start)
		for i := start; i < end; i++ {
			windows = append(windows, Window{starts[i], ends[i]})
		}
		merges, err := r.merger.Merge(windows)
		if err != nil {
			return out, err
		}
		for _, m := range merges {
			out.Starts = append(out.Starts, m.Window.Start)
			out.Ends = append(out.Ends, m.Window.End)
			for _, member := range m.Members {
				if member < 0 || member >= len(windows) {
					return out, fmt.Errorf("merge names window %d of a key that has %d", member, len(windows))
				}
				out.Members = append(out.Members, start+uint32(member))
			}
			out.MemberEnds = append(out.MemberEnds, uint32(len(out.Members)))
		}
		start = end
	}
	return out, nil
}

// -- Triggers --------------------------------------------------------------------------

// TriggerRunner runs a Trigger over many windows per call.
type TriggerRunner interface {
	// OnElements: window w received in[elementEnds[w-1]:elementEnds[w]] and kept
	// states[w] (empty at first); each window's new state and whether it fires.
	OnElements(states Blobs, in Elements, elementEnds []uint32) (Blobs, []bool, error)
}

// NewTriggerRunner builds the Trigger from the step's configuration.
func NewTriggerRunner[In, S any](factory func(Config) (Trigger[In, S], error), config Config) (TriggerRunner, error) {
	var fn Trigger[In, S]
	if err := guarded(func() (err error) { fn, err = factory(config); return }); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("the Trigger's constructor returned no Trigger")
	}
	r := &triggerRunner[In, S]{fn: fn, codec: JSONCodec[S](), decode: decoderFor[In]()}
	if c, ok := any(fn).(StateCoder[S]); ok {
		r.codec = c.StateCodec()
	}
	r.initial, _ = any(fn).(InitialStater[S])
	return r, nil
}

type triggerRunner[In, S any] struct {
	fn      Trigger[In, S]
	codec   Codec[S]
	initial InitialStater[S]
	decode  func([]byte) (In, error)
}

func (r *triggerRunner[In, S]) OnElements(states Blobs, in Elements, elementEnds []uint32) (out Blobs, fire []bool, err error) {
	startCall()
	defer endCall(&err)
	if err := in.check(); err != nil {
		return out, nil, err
	}
	if states.Len() != len(elementEnds) {
		return out, nil, fmt.Errorf("%d states for %d windows", states.Len(), len(elementEnds))
	}
	var keys keyDecoder
	start := uint32(0)
	elements := make([]Element[In], 0, 16)
	for w, end := range elementEnds {
		if end < start || int(end) > in.Len() {
			return out, nil, fmt.Errorf("element ends past the elements")
		}
		var state S
		if data := states.Item(w); len(data) > 0 {
			if state, err = r.codec.Decode(data); err != nil {
				return out, nil, fmt.Errorf("cannot read the trigger state: %v", err)
			}
		} else if r.initial != nil {
			state = r.initial.InitialState()
		}
		elements = elements[:0]
		for i := start; i < end; i++ {
			value, err := r.decode(in.Values.Item(int(i)))
			if err != nil {
				return out, nil, fmt.Errorf("element %d: cannot read the value: %v", i, err)
			}
			elements = append(elements, Element[In]{
				Key:       keys.decode(in.Keys.Item(int(i))),
				Value:     value,
				Timestamp: in.Timestamps[i],
				Window:    Window{in.WindowStarts[i], in.WindowEnds[i]},
			})
		}
		window := GlobalWindow
		if len(elements) > 0 {
			window = elements[0].Window
		}
		fires, next, err := r.fn.OnElements(state, window, elements)
		if err != nil {
			return out, nil, err
		}
		fire = append(fire, fires)
		mark := len(out.Bytes)
		if out.Bytes, err = r.codec.Encode(out.Bytes, next); err != nil {
			out.Bytes = out.Bytes[:mark]
			return out, nil, fmt.Errorf("cannot write the trigger state: %v", err)
		}
		out.Ends = append(out.Ends, uint32(len(out.Bytes)))
		start = end
	}
	return out, fire, nil
}
