// Parses each value as JSON text (a string holding a JSON object, or an object),
// keeps the records that match a filter, and re-keys them by a field.
//
// The Go twin of plugins/parse-json, with the same configuration (all optional):
//
//	config:
//	  key: user              # field that becomes the key (dotted paths reach nested fields)
//	  value: score           # field that becomes the value (else the whole object)
//	  timestamp: ts          # field (integer ms) that becomes the event time
//	  where: { type: score } # keep only records whose fields equal these values
//
// Text that is not JSON, or a record without the key or value field, goes to the
// dead-letter output with the reason. It takes the SDK's bulk path
// (BatchDoFn.ProcessBatch): one call for the whole batch.
package main

import (
	"errors"
	"sort"
	"strconv"

	"millrace.local/millrace"
	"millrace.local/millrace/dofn"
)

// ParseJSON is the parse/filter/re-key DoFn.
type ParseJSON struct {
	key, value, timestamp string // "" when not configured
	where                 map[string]any
	whereNames            []string
}

// New reads the configuration.
func New(config millrace.Config) (millrace.BatchDoFn[any], error) {
	if err := config.AllowOnly("key", "value", "timestamp", "where"); err != nil {
		return nil, err
	}
	p := &ParseJSON{}
	for name, into := range map[string]*string{"key": &p.key, "value": &p.value, "timestamp": &p.timestamp} {
		if err := config.Optional(name, into); err != nil {
			return nil, err
		}
	}
	if err := config.Optional("where", &p.where); err != nil {
		return nil, err
	}
	for name := range p.where {
		p.whereNames = append(p.whereNames, name)
	}
	sort.Strings(p.whereNames)
	return p, nil
}

// ProcessBatch is the bulk path: a bad record is rejected by index and the rest
// carry on.
func (p *ParseJSON) ProcessBatch(b *millrace.Batch[any]) error {
	for i, value := range b.Values {
		key, record, timestamp, keep, err := p.parse(value, b.Keys[i], b.Timestamps[i])
		if err != nil {
			b.Reject(i, err.Error())
			continue
		}
		if keep {
			if err := b.Out(i).EmitAt(key, record, timestamp); err != nil {
				return err
			}
		}
	}
	return nil
}

// parse is the key, value and event time to emit for an element, or keep false
// when the filter drops it.
func (p *ParseJSON) parse(value, key any, timestamp int64) (any, any, int64, bool, error) {
	record := value
	if text, ok := record.(string); ok {
		parsed, err := millrace.ParseJSON([]byte(text))
		if err != nil {
			return nil, nil, 0, false, errors.New("not valid JSON: " + err.Error())
		}
		record = parsed
	}
	if _, ok := record.(map[string]any); !ok {
		return nil, nil, 0, false, errors.New("expected a JSON object")
	}
	for _, name := range p.whereNames {
		if field, ok := millrace.Field(record, name); !ok || !millrace.Equal(field, p.where[name]) {
			return nil, nil, 0, false, nil
		}
	}
	if p.key != "" {
		field, ok := millrace.Field(record, p.key)
		if !ok {
			return nil, nil, 0, false, errors.New("missing the key field " + strconv.Quote(p.key))
		}
		key = field
	}
	if p.timestamp != "" {
		field, _ := millrace.Field(record, p.timestamp)
		ts, ok := millrace.AsInt(field)
		if !ok {
			return nil, nil, 0, false, errors.New("missing the integer time field " + strconv.Quote(p.timestamp))
		}
		timestamp = ts
	}
	if p.value != "" {
		field, ok := millrace.Field(record, p.value)
		if !ok {
			return nil, nil, 0, false, errors.New("missing the value field " + strconv.Quote(p.value))
		}
		record = field
	}
	return key, record, timestamp, true, nil
}

func init() { dofn.ExportBatch(New) }

func main() {}
