package millrace

// The batch engine: turns the host's column-by-column batches into calls of a
// plugin's methods and their results back into columns. The world packages (dofn,
// combine, window, trigger) drive it from the component's exports, and package
// millracetest from native tests; plugin authors need not use it.

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// Blobs are byte strings laid end to end: item i is Bytes[Ends[i-1]:Ends[i]].
type Blobs struct {
	Bytes []byte
	Ends  []uint32
}

// Len is the number of items.
func (b Blobs) Len() int { return len(b.Ends) }

// Item is item i (clamped to the bytes there are).
func (b Blobs) Item(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = b.Ends[i-1]
	}
	end := b.Ends[i]
	if end > uint32(len(b.Bytes)) {
		end = uint32(len(b.Bytes))
	}
	if start > end {
		start = end
	}
	return b.Bytes[start:end:end]
}

// Push appends an item.
func (b *Blobs) Push(item []byte) {
	b.Bytes = append(b.Bytes, item...)
	b.Ends = append(b.Ends, uint32(len(b.Bytes)))
}

// Elements is a batch of elements, one column per field.
type Elements struct {
	Keys, Values Blobs
	Timestamps   []int64
	WindowStarts []int64
	WindowEnds   []int64
}

// Len is the number of elements.
func (e Elements) Len() int { return len(e.Timestamps) }

func (e Elements) check() error {
	n := len(e.Timestamps)
	if e.Keys.Len() != n || e.Values.Len() != n || len(e.WindowStarts) != n || len(e.WindowEnds) != n {
		return fmt.Errorf("the batch's columns differ in length")
	}
	return nil
}

// FiredTimers is a batch of timers that fired.
type FiredTimers struct {
	Keys         Blobs
	WindowStarts []int64
	WindowEnds   []int64
	Names        []string
	Times        []int64
}

// ElementError is an element of a batch that could not be handled.
type ElementError struct {
	Index   uint32
	Message string
}

// Output is what a DoFn call emits.
type Output struct {
	Keys, Values Blobs
	Timestamps   []int64
	Sources      []uint32
	// Tags is each output's side output ("" the main one), or empty when all go to
	// the main output.
	Tags   Blobs
	Errors []ElementError
}

// describePanic is what the dead-letter output says about a recovered panic:
// "panic: <value> (at FILE:LINE in FUNCTION)".
func describePanic(value any) string {
	var text string
	switch v := value.(type) {
	case error:
		text = v.Error()
	case fmt.Stringer:
		text = v.String()
	case string:
		text = v
	default:
		text = fmt.Sprintf("%v", v)
	}
	message := "panic: " + text
	if site := panicSite(); site != "" {
		message += " (at " + site + ")"
	}
	return message
}

// panicSite is where the panic being recovered was raised: the first frame below
// runtime.gopanic that is not the runtime's.
func panicSite() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	panicking := false
	for {
		frame, more := frames.Next()
		if panicking && !strings.HasPrefix(frame.Function, "runtime.") {
			file := frame.File
			if slash := strings.LastIndexByte(file, '/'); slash >= 0 {
				file = file[slash+1:]
			}
			return fmt.Sprintf("%s:%d in %s", file, frame.Line, frame.Function)
		}
		if frame.Function == "runtime.gopanic" {
			panicking = true
		}
		if !more {
			return ""
		}
	}
}

// guarded runs f, turning a panic into an error.
func guarded(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(describePanic(p))
		}
	}()
	return f()
}

type panicError string

func (e panicError) Error() string { return string(e) }

// startCall and endCall bracket every call of the host: metrics are passed on
// once, when it ends, and a panic that escapes the plugin's code fails the call.
func startCall() { inCall = true }

func endCall(err *error) {
	if p := recover(); p != nil {
		*err = panicError(describePanic(p))
	}
	inCall = false
	flushMetrics()
}

// keyDecoder decodes each element's key, reusing the last one when a batch repeats
// it (keys of a batch often come grouped).
type keyDecoder struct {
	last    []byte
	decoded any
	valid   bool
}

func (d *keyDecoder) decode(raw []byte) any {
	if d.valid && string(raw) == string(d.last) {
		return d.decoded
	}
	v, err := ParseJSON(raw)
	if err != nil {
		v = nil
	}
	switch v.(type) {
	case map[string]any, []any:
		d.valid = false // a mutable key is never shared between elements
		return v
	}
	d.last, d.decoded, d.valid = raw, v, true
	return v
}

func sortErrors(errors []ElementError) {
	slices.SortStableFunc(errors, func(a, b ElementError) int {
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
}

// -- DoFn ------------------------------------------------------------------------------

// DoFnRunner runs a DoFn (or BatchDoFn) over the host's batches.
type DoFnRunner interface {
	Process(state StateHost, in Elements) (*Output, error)
	OnTimer(state StateHost, timers FiredTimers) (*Output, error)
}

// NewDoFnRunner builds the DoFn from the step's configuration.
func NewDoFnRunner[In any](factory func(Config) (DoFn[In], error), config Config) (DoFnRunner, error) {
	var fn DoFn[In]
	if err := guarded(func() (err error) { fn, err = factory(config); return }); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("the DoFn's constructor returned no DoFn")
	}
	timers, _ := any(fn).(TimerHandler)
	return &doFnRunner[In]{fn: fn, timers: timers, decode: decoderFor[In]()}, nil
}

// NewBatchDoFnRunner builds the bulk-path DoFn from the step's configuration.
func NewBatchDoFnRunner[In any](factory func(Config) (BatchDoFn[In], error), config Config) (DoFnRunner, error) {
	var fn BatchDoFn[In]
	if err := guarded(func() (err error) { fn, err = factory(config); return }); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("the DoFn's constructor returned no DoFn")
	}
	timers, _ := any(fn).(TimerHandler)
	return &doFnRunner[In]{bulk: fn, timers: timers, decode: decoderFor[In]()}, nil
}

type doFnRunner[In any] struct {
	fn     DoFn[In]
	bulk   BatchDoFn[In]
	timers TimerHandler
	decode func([]byte) (In, error)
}

// doFnCall is what one call's elements share.
type doFnCall struct {
	in     Elements
	out    *Emitter
	staged *staging
}

func (r *doFnRunner[In]) Process(state StateHost, in Elements) (output *Output, err error) {
	startCall()
	defer endCall(&err)
	if err := in.check(); err != nil {
		return nil, err
	}
	call := &doFnCall{in: in, out: &Emitter{}, staged: &staging{host: state}}
	var errors []ElementError
	var keys keyDecoder
	n := in.Len()
	if r.bulk != nil {
		batch := &Batch[In]{call: call}
		for i := 0; i < n; i++ {
			value, err := r.decode(in.Values.Item(i))
			if err != nil {
				errors = append(errors, ElementError{uint32(i), "cannot read the value: " + err.Error()})
				continue
			}
			batch.Keys = append(batch.Keys, keys.decode(in.Keys.Item(i)))
			batch.Values = append(batch.Values, value)
			batch.Timestamps = append(batch.Timestamps, in.Timestamps[i])
			batch.Windows = append(batch.Windows, Window{in.WindowStarts[i], in.WindowEnds[i]})
			batch.sources = append(batch.sources, uint32(i))
		}
		if batch.Len() > 0 {
			ok, failure := r.attempt(batch)
			switch {
			case ok:
				errors = append(errors, batch.rejectedErrors()...)
			case batch.Len() == 1:
				errors = append(errors, ElementError{batch.sources[0], failure})
			default:
				// The batch failed as a whole: find the elements that fail, one by one.
				for i := range batch.Values {
					one := &Batch[In]{
						Keys: batch.Keys[i : i+1], Values: batch.Values[i : i+1],
						Timestamps: batch.Timestamps[i : i+1], Windows: batch.Windows[i : i+1],
						call: call, sources: batch.sources[i : i+1],
					}
					if ok, failure := r.attempt(one); ok {
						errors = append(errors, one.rejectedErrors()...)
					} else {
						errors = append(errors, ElementError{one.sources[0], failure})
					}
				}
			}
		}
		sortErrors(errors)
		return call.out.output(errors), nil
	}
	for i := 0; i < n; i++ {
		rawKey := in.Keys.Item(i)
		value, err := r.decode(in.Values.Item(i))
		if err != nil {
			errors = append(errors, ElementError{uint32(i), "cannot read the value: " + err.Error()})
			continue
		}
		element := Element[In]{
			Key:       keys.decode(rawKey),
			Value:     value,
			Timestamp: in.Timestamps[i],
			Window:    Window{in.WindowStarts[i], in.WindowEnds[i]},
			Keyed:     Keyed{call.staged, uint32(i)},
		}
		call.out.at(uint32(i), rawKey, element.Timestamp)
		mark := call.out.mark()
		if message, failed := r.processOne(&element, call.out); failed {
			call.out.rollback(mark)
			call.staged.discard()
			errors = append(errors, ElementError{uint32(i), message})
		} else {
			call.staged.commit()
		}
	}
	return call.out.output(errors), nil
}

// processOne runs Process for one element; what went wrong, if anything.
func (r *doFnRunner[In]) processOne(e *Element[In], out *Emitter) (message string, failed bool) {
	defer func() {
		if p := recover(); p != nil {
			message, failed = describePanic(p), true
		}
	}()
	if err := r.fn.Process(e, out); err != nil {
		return errorText(err), true
	}
	return "", false
}

// attempt runs ProcessBatch over batch; whether it returned without error (its
// rejects are then errors of the call), else what went wrong (and it left no trace).
func (r *doFnRunner[In]) attempt(batch *Batch[In]) (ok bool, failure string) {
	call := batch.call
	mark := call.out.mark()
	func() {
		defer func() {
			if p := recover(); p != nil {
				failure = describePanic(p)
			}
		}()
		if err := r.bulk.ProcessBatch(batch); err != nil {
			failure = errorText(err)
			return
		}
		ok = true
	}()
	if !ok {
		call.out.rollback(mark)
		call.staged.discard()
		return false, failure
	}
	if len(batch.rejected) > 0 {
		call.out.drop(batch.rejected, mark)
		call.staged.discardElements(batch.rejected)
	}
	call.staged.commit()
	return true, ""
}

// rejectedErrors are a batch's rejects, as errors.
func (b *Batch[In]) rejectedErrors() []ElementError {
	var out []ElementError
	for index, message := range b.rejected {
		out = append(out, ElementError{index, message})
	}
	return out
}

func errorText(err error) string {
	if text := err.Error(); text != "" {
		return text
	}
	return fmt.Sprintf("%T", err)
}

func (r *doFnRunner[In]) OnTimer(state StateHost, timers FiredTimers) (output *Output, err error) {
	startCall()
	defer endCall(&err)
	n := len(timers.Times)
	if timers.Keys.Len() != n || len(timers.Names) != n || len(timers.WindowStarts) != n || len(timers.WindowEnds) != n {
		return nil, fmt.Errorf("the timers' columns differ in length")
	}
	call := &doFnCall{out: &Emitter{}, staged: &staging{host: state}}
	var errors []ElementError
	if r.timers == nil {
		return call.out.output(nil), nil
	}
	var keys keyDecoder
	for i := 0; i < n; i++ {
		rawKey := timers.Keys.Item(i)
		timer := Timer{
			Key:    keys.decode(rawKey),
			Window: Window{timers.WindowStarts[i], timers.WindowEnds[i]},
			Name:   timers.Names[i],
			Time:   timers.Times[i],
			Keyed:  Keyed{call.staged, uint32(i)},
		}
		call.out.at(uint32(i), rawKey, timer.Time)
		mark := call.out.mark()
		message, failed := func() (message string, failed bool) {
			defer func() {
				if p := recover(); p != nil {
					message, failed = describePanic(p), true
				}
			}()
			if err := r.timers.OnTimer(&timer, call.out); err != nil {
				return errorText(err), true
			}
			return "", false
		}()
		if failed {
			call.out.rollback(mark)
			call.staged.discard()
			errors = append(errors, ElementError{uint32(i), message})
		} else {
			call.staged.commit()
		}
	}
	return call.out.output(errors), nil
}
