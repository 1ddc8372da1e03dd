// A data-driven trigger for anomalies (paper §3.3.6): fires when a value crosses a
// threshold from below, and re-arms once a value falls below it again.
//
// The Go twin of plugins/threshold, with the same configuration:
//
//	trigger: { repeatedly: { plugin: plugins/go/threshold, config: { threshold: 100, field: latency } } }
//
// field picks a number out of object values; without it the value itself is read.
// The per-window state, whether the last value seen was at or above the threshold,
// is a postcard bool as in the Rust plugin.
package main

import (
	"millrace.local/millrace"
	"millrace.local/millrace/postcard"
	"millrace.local/millrace/trigger"
)

// Threshold is the threshold trigger; its state is whether the last reading was
// above.
type Threshold struct {
	threshold float64
	field     string
}

// New reads the configuration.
func New(config millrace.Config) (millrace.Trigger[any, bool], error) {
	t := &Threshold{}
	if err := config.Require("threshold", &t.threshold); err != nil {
		return nil, err
	}
	if err := config.Optional("field", &t.field); err != nil {
		return nil, err
	}
	return t, nil
}

// reading is the number value holds, if any.
func (t *Threshold) reading(value any) (float64, bool) {
	if t.field != "" {
		object, _ := value.(map[string]any)
		value = object[t.field]
	}
	return millrace.AsFloat(value)
}

func (t *Threshold) OnElements(above bool, _ millrace.Window, elements []millrace.Element[any]) (bool, bool, error) {
	fire := false
	for _, e := range elements {
		reading, ok := t.reading(e.Value)
		if !ok {
			continue
		}
		nowAbove := reading >= t.threshold
		fire = fire || (nowAbove && !above)
		above = nowAbove
	}
	return fire, above, nil
}

// StateCodec stores the state as the Rust plugin does.
func (t *Threshold) StateCodec() millrace.Codec[bool] { return postcard.Bool }

func init() { trigger.Export(New) }

func main() {}
