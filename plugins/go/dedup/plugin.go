// Drops repeats: a record whose id was already seen for the same key within the
// horizon (in event time) is not passed on. Each id is remembered in keyed state
// and forgotten by an event-time timer once the watermark passes ts + horizon.
// Repeats may go to a side output instead of nowhere.
//
// The Go twin of plugins/dedup, with the same configuration and the same state
// (each id's cell holds its first time as a postcard i64, as the Rust plugin's does):
//
//	pardo:
//	  plugin: plugins/go/dedup
//	  outputs: [repeats]       # only with `repeats` below
//	  config:
//	    id: event_id           # the field of the value that identifies a record (else the whole value)
//	    horizon: 600000        # how long an id is remembered, in milliseconds of event time
//	    repeats: repeats       # optional: the side output repeats go to
package main

import (
	"errors"
	"math"
	"strconv"

	"millrace.local/millrace"
	"millrace.local/millrace/dofn"
	"millrace.local/millrace/postcard"
)

// Dedup is the dedup DoFn.
type Dedup struct {
	id      string // "" for the whole value
	horizon int64
	repeats string // "" to drop repeats
}

// New reads the configuration.
func New(config millrace.Config) (millrace.DoFn[any], error) {
	d := &Dedup{}
	if err := config.Require("horizon", &d.horizon); err != nil {
		return nil, err
	}
	if d.horizon <= 0 {
		return nil, errors.New(`config "horizon" must be a positive number of milliseconds`)
	}
	if err := config.Optional("id", &d.id); err != nil {
		return nil, err
	}
	if err := config.Optional("repeats", &d.repeats); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dedup) Process(e *millrace.Element[any], out *millrace.Emitter) error {
	identity := e.Value
	if d.id != "" {
		object, _ := e.Value.(map[string]any)
		field, ok := object[d.id]
		if !ok {
			return errors.New("missing the id field " + strconv.Quote(d.id))
		}
		identity = field
	}
	text, err := millrace.MarshalJSON(identity)
	if err != nil {
		return err
	}
	name := "seen:" + string(text)
	if _, seen := e.State(name); seen {
		millrace.CounterAdd("duplicates", 1)
		if d.repeats != "" {
			return out.EmitTo(d.repeats, e.Value)
		}
		return nil
	}
	if err := millrace.StoreState(e, name, postcard.I64, e.Timestamp); err != nil {
		return err
	}
	forget := e.Timestamp + d.horizon
	if forget < e.Timestamp {
		forget = math.MaxInt64
	}
	e.SetEventTimer(name, forget)
	return out.Emit(e.Value)
}

// OnTimer forgets the id: the horizon has passed.
func (d *Dedup) OnTimer(t *millrace.Timer, out *millrace.Emitter) error {
	t.ClearState(t.Name)
	return nil
}

func init() { dofn.Export(New) }

func main() {}
