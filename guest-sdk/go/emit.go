package millrace

import (
	"slices"
)

// Emitter collects what a DoFn emits, column by column. Every output takes the
// window of the input (or fired timer) it came from.
type Emitter struct {
	keys, values []byte
	keyEnds      []uint32
	valueEnds    []uint32
	timestamps   []int64
	sources      []uint32
	side         []sideTag // outputs that go to a side output, in output order

	// The current input.
	source    uint32
	key       []byte
	timestamp int64
}

type sideTag struct {
	output int
	tag    string
}

// at makes input source (of raw key key, at timestamp) the current one.
func (o *Emitter) at(source uint32, key []byte, timestamp int64) {
	o.source = source
	o.key = key
	o.timestamp = timestamp
}

// Emit emits value with the current element's key and event time.
func (o *Emitter) Emit(value any) error { return o.push(o.key, value, o.timestamp, "") }

// EmitKeyed emits value under key, at the current element's event time.
func (o *Emitter) EmitKeyed(key, value any) error {
	return o.EmitAt(key, value, o.timestamp)
}

// EmitAt emits value under key at event time timestamp.
func (o *Emitter) EmitAt(key, value any, timestamp int64) error {
	return o.pushKeyed(key, value, timestamp, "")
}

// EmitTo emits value with the current element's key and event time to the side
// output named output, one the step's spec declares (pardo: {plugin: …, outputs:
// [rejects]}); "" is the main output.
func (o *Emitter) EmitTo(output string, value any) error {
	return o.push(o.key, value, o.timestamp, output)
}

// To is the side output named output, to emit there under another key or time:
// out.To("rejects").EmitKeyed(reason, e.Value).
func (o *Emitter) To(output string) SideOutput { return SideOutput{o, output} }

// SideOutput is one side output of an Emitter.
type SideOutput struct {
	emitter *Emitter
	output  string
}

// Emit emits value with the current element's key and event time.
func (s SideOutput) Emit(value any) error {
	return s.emitter.push(s.emitter.key, value, s.emitter.timestamp, s.output)
}

// EmitKeyed emits value under key, at the current element's event time.
func (s SideOutput) EmitKeyed(key, value any) error {
	return s.emitter.pushKeyed(key, value, s.emitter.timestamp, s.output)
}

// EmitAt emits value under key at event time timestamp.
func (s SideOutput) EmitAt(key, value any, timestamp int64) error {
	return s.emitter.pushKeyed(key, value, timestamp, s.output)
}

func (o *Emitter) pushKeyed(key, value any, timestamp int64, output string) error {
	mark := len(o.keys)
	keys, err := AppendJSON(o.keys, key)
	if err != nil {
		o.keys = keys[:mark]
		return err
	}
	o.keys = keys
	valueMark := len(o.values)
	values, err := AppendJSON(o.values, value)
	if err != nil {
		o.keys = o.keys[:mark]
		o.values = values[:valueMark]
		return err
	}
	o.values = values
	o.finish(timestamp, output)
	return nil
}

func (o *Emitter) push(key []byte, value any, timestamp int64, output string) error {
	mark := len(o.values)
	values, err := AppendJSON(o.values, value)
	if err != nil {
		o.values = values[:mark]
		return err
	}
	o.values = values
	o.keys = append(o.keys, key...)
	o.finish(timestamp, output)
	return nil
}

func (o *Emitter) finish(timestamp int64, output string) {
	if output != "" {
		o.side = append(o.side, sideTag{len(o.timestamps), output})
	}
	o.keyEnds = append(o.keyEnds, uint32(len(o.keys)))
	o.valueEnds = append(o.valueEnds, uint32(len(o.values)))
	o.timestamps = append(o.timestamps, timestamp)
	o.sources = append(o.sources, o.source)
}

// Len is how many elements were emitted so far.
func (o *Emitter) Len() int { return len(o.timestamps) }

type emitMark struct{ keys, values, count, side int }

func (o *Emitter) mark() emitMark {
	return emitMark{len(o.keys), len(o.values), len(o.timestamps), len(o.side)}
}

// rollback takes back what was emitted since m.
func (o *Emitter) rollback(m emitMark) {
	o.keys = o.keys[:m.keys]
	o.values = o.values[:m.values]
	o.keyEnds = o.keyEnds[:m.count]
	o.valueEnds = o.valueEnds[:m.count]
	o.timestamps = o.timestamps[:m.count]
	o.sources = o.sources[:m.count]
	o.side = o.side[:m.side]
}

// drop takes back what the inputs in sources emitted since m.
func (o *Emitter) drop(sources map[uint32]string, m emitMark) {
	if len(sources) == 0 {
		return
	}
	type kept struct {
		key, value []byte
		timestamp  int64
		source     uint32
		tag        string
	}
	var keep []kept
	tags := map[int]string{}
	for _, s := range o.side[m.side:] {
		tags[s.output] = s.tag
	}
	keyStart, valueStart := uint32(m.keys), uint32(m.values)
	for i := m.count; i < len(o.timestamps); i++ {
		keyEnd, valueEnd := o.keyEnds[i], o.valueEnds[i]
		if _, gone := sources[o.sources[i]]; !gone {
			keep = append(keep, kept{
				slices.Clone(o.keys[keyStart:keyEnd]), slices.Clone(o.values[valueStart:valueEnd]),
				o.timestamps[i], o.sources[i], tags[i],
			})
		}
		keyStart, valueStart = keyEnd, valueEnd
	}
	o.rollback(m)
	source := o.source
	for _, k := range keep {
		o.keys = append(o.keys, k.key...)
		o.values = append(o.values, k.value...)
		o.source = k.source
		o.finish(k.timestamp, k.tag)
	}
	o.source = source
}

// Output is what a DoFn call gives back, as the host lays it out.
func (o *Emitter) output(errors []ElementError) *Output {
	out := &Output{
		Keys:       Blobs{o.keys, o.keyEnds},
		Values:     Blobs{o.values, o.valueEnds},
		Timestamps: o.timestamps,
		Sources:    o.sources,
		Errors:     errors,
	}
	if len(o.side) > 0 {
		// Each output's side output ("" for the main one); none if all go to the main
		// output.
		var tags Blobs
		next := 0
		for i := range o.timestamps {
			if next < len(o.side) && o.side[next].output == i {
				tags.Bytes = append(tags.Bytes, o.side[next].tag...)
				next++
			}
			tags.Ends = append(tags.Ends, uint32(len(tags.Bytes)))
		}
		out.Tags = tags
	}
	return out
}

// Batch is a whole batch of elements for BatchDoFn.ProcessBatch, one slice per
// field: element i has Keys[i], Values[i], Timestamps[i] and Windows[i].
type Batch[In any] struct {
	Keys       []any
	Values     []In
	Timestamps []int64
	Windows    []Window

	call     *doFnCall
	sources  []uint32 // each element's index in the host's batch
	rejected map[uint32]string
}

// Len is the number of elements.
func (b *Batch[In]) Len() int { return len(b.Values) }

// Out is the emitter of element i: what it emits takes element i's key, event time
// and window unless it says otherwise.
func (b *Batch[In]) Out(i int) *Emitter {
	source := b.sources[i]
	b.call.out.at(source, b.call.in.Keys.Item(int(source)), b.Timestamps[i])
	return b.call.out
}

// Emit emits value for element i, with its key and event time.
func (b *Batch[In]) Emit(i int, value any) error { return b.Out(i).Emit(value) }

// Reject dead-letters element i with reason; what it emitted, and its state and
// timer writes, are taken back.
func (b *Batch[In]) Reject(i int, reason string) {
	if b.rejected == nil {
		b.rejected = map[uint32]string{}
	}
	b.rejected[b.sources[i]] = reason
}

// Element is element i whole, with the state and timers of its key and window.
func (b *Batch[In]) Element(i int) *Element[In] {
	return &Element[In]{
		Key:       b.Keys[i],
		Value:     b.Values[i],
		Timestamp: b.Timestamps[i],
		Window:    b.Windows[i],
		Keyed:     Keyed{b.call.staged, b.sources[i]},
	}
}
