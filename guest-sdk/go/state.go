package millrace

import (
	"errors"
	"fmt"
	"slices"
)

// StateHost is where a DoFn's keyed state and timers live: the host (inside a
// component) or a test harness's memory. Each call names the element (or fired
// timer) of the current batch whose key and window it means, by its index.
type StateHost interface {
	Get(element uint32, name string) ([]byte, bool)
	Set(element uint32, name string, value []byte)
	Clear(element uint32, name string)
	SetEventTimer(element uint32, name string, time int64)
	SetProcessingTimer(element uint32, name string, time int64)
	ClearTimer(element uint32, name string)
}

// Keyed is the keyed state and timers of one element's (or timer's) key and
// window. Writes are held back until the element's Process returns without error,
// so that an element that fails leaves no trace; reads see the element's own
// writes.
type Keyed struct {
	staged *staging
	index  uint32
}

// ErrNoState is the panic of a state or timer call on an element of no DoFn batch.
var ErrNoState = errors.New("this element has no keyed state: state and timers are for DoFns (in tests, run it through millracetest.DoFn)")

func (k *Keyed) scope() *staging {
	if k.staged == nil {
		panic(ErrNoState)
	}
	return k.staged
}

// State is the value stored under name, and whether there is one.
func (k *Keyed) State(name string) ([]byte, bool) { return k.scope().get(k.index, name) }

// SetState stores value under name.
func (k *Keyed) SetState(name string, value []byte) {
	k.scope().set(k.index, name, slices.Clone(value))
}

// ClearState removes what is stored under name.
func (k *Keyed) ClearState(name string) { k.scope().clear(k.index, name) }

// StateJSON decodes the JSON stored under name into v; false when nothing is.
func (k *Keyed) StateJSON(name string, v any) (bool, error) {
	data, ok := k.State(name)
	if !ok {
		return false, nil
	}
	if err := decodeJSONInto(data, v); err != nil {
		return true, fmt.Errorf("state %s: %v", quote(name), err)
	}
	return true, nil
}

// SetStateJSON stores v under name as JSON.
func (k *Keyed) SetStateJSON(name string, v any) error {
	data, err := AppendJSON(nil, v)
	if err != nil {
		return fmt.Errorf("state %s: %v", quote(name), err)
	}
	k.scope().set(k.index, name, data)
	return nil
}

// SetEventTimer sets (or moves) the event-time timer name: the DoFn's OnTimer is
// called once the watermark passes time.
func (k *Keyed) SetEventTimer(name string, time int64) {
	k.scope().timer(k.index, name, timerEvent, time)
}

// SetProcessingTimer sets (or moves) the processing-time timer name.
func (k *Keyed) SetProcessingTimer(name string, time int64) {
	k.scope().timer(k.index, name, timerProcessing, time)
}

// ClearTimer cancels the timer name.
func (k *Keyed) ClearTimer(name string) { k.scope().timer(k.index, name, timerClear, 0) }

// KeyedState is what has keyed state: an Element or a Timer of a DoFn.
type KeyedState interface {
	State(name string) ([]byte, bool)
	SetState(name string, value []byte)
}

// LoadState decodes the value stored under name with codec; ok is false when
// nothing is stored.
func LoadState[T any](k KeyedState, name string, codec Codec[T]) (value T, ok bool, err error) {
	data, ok := k.State(name)
	if !ok {
		return value, false, nil
	}
	value, err = codec.Decode(data)
	if err != nil {
		return value, true, fmt.Errorf("state %s: %v", quote(name), err)
	}
	return value, true, nil
}

// StoreState stores value under name, encoded with codec.
func StoreState[T any](k KeyedState, name string, codec Codec[T], value T) error {
	data, err := codec.Encode(nil, value)
	if err != nil {
		return fmt.Errorf("state %s: %v", quote(name), err)
	}
	k.SetState(name, data)
	return nil
}

const (
	timerEvent = iota
	timerProcessing
	timerClear
)

type cell struct {
	index uint32
	name  string
}

type cellValue struct {
	value []byte
	set   bool // false: cleared
}

type timerOp struct {
	cell
	kind int
	time int64
}

// staging holds back the state and timer writes of the elements being handled
// until they succeed.
type staging struct {
	host   StateHost
	cells  map[cell]cellValue
	order  []cell // cells in the order of their first write
	timers []timerOp
}

func (s *staging) get(index uint32, name string) ([]byte, bool) {
	if s.cells != nil {
		if v, ok := s.cells[cell{index, name}]; ok {
			return v.value, v.set
		}
	}
	return s.host.Get(index, name)
}

func (s *staging) write(index uint32, name string, v cellValue) {
	if s.cells == nil {
		s.cells = map[cell]cellValue{}
	}
	c := cell{index, name}
	if _, ok := s.cells[c]; !ok {
		s.order = append(s.order, c)
	}
	s.cells[c] = v
}

func (s *staging) set(index uint32, name string, value []byte) {
	s.write(index, name, cellValue{value, true})
}

func (s *staging) clear(index uint32, name string) {
	s.write(index, name, cellValue{nil, false})
}

func (s *staging) timer(index uint32, name string, kind int, time int64) {
	s.timers = append(s.timers, timerOp{cell{index, name}, kind, time})
}

// commit passes the writes held back on to the host.
func (s *staging) commit() {
	for _, c := range s.order {
		v := s.cells[c]
		if v.set {
			s.host.Set(c.index, c.name, v.value)
		} else {
			s.host.Clear(c.index, c.name)
		}
	}
	for _, t := range s.timers {
		switch t.kind {
		case timerEvent:
			s.host.SetEventTimer(t.index, t.name, t.time)
		case timerProcessing:
			s.host.SetProcessingTimer(t.index, t.name, t.time)
		default:
			s.host.ClearTimer(t.index, t.name)
		}
	}
	s.discard()
}

// discard forgets the writes held back.
func (s *staging) discard() {
	clear(s.cells)
	s.order = s.order[:0]
	s.timers = s.timers[:0]
}

// discardElements forgets the writes held back for the elements in indexes.
func (s *staging) discardElements(indexes map[uint32]string) {
	order := s.order[:0]
	for _, c := range s.order {
		if _, gone := indexes[c.index]; gone {
			delete(s.cells, c)
		} else {
			order = append(order, c)
		}
	}
	s.order = order
	timers := s.timers[:0]
	for _, t := range s.timers {
		if _, gone := indexes[t.index]; !gone {
			timers = append(timers, t)
		}
	}
	s.timers = timers
}
