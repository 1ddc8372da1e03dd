package millrace

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Codec turns values of type T into bytes and back: the host stores a CombineFn's
// accumulators, a DoFn's state cells and a trigger's per-window state as opaque
// bytes. JSONCodec is readable by any language; package postcard writes the bytes
// of the Rust SDK, so that a Go plugin can take over the accumulators and state of
// its Rust twin.
type Codec[T any] interface {
	// Format names the byte encoding, e.g. "json" or "postcard/sum::Total". For a
	// CombineFn, the host sees it and refuses a hot swap to a version whose format
	// differs.
	Format() string
	// Encode appends the bytes of v to buf.
	Encode(buf []byte, v T) ([]byte, error)
	// Decode reads a value from data, which must hold exactly one.
	Decode(data []byte) (T, error)
}

// JSONCodec encodes values as compact JSON (AppendJSON) and decodes them with the
// SDK's decoder (into `any`) or encoding/json (into other types).
func JSONCodec[T any]() Codec[T] { return jsonCodec[T]{decode: decoderFor[T]()} }

type jsonCodec[T any] struct {
	decode func([]byte) (T, error)
}

func (jsonCodec[T]) Format() string { return "json" }

func (jsonCodec[T]) Encode(buf []byte, v T) ([]byte, error) { return AppendJSON(buf, v) }

func (c jsonCodec[T]) Decode(data []byte) (T, error) { return c.decode(data) }

// decoderFor is how values of type T are read from JSON: the SDK's parser for
// `any`, a copy for json.RawMessage, encoding/json for the rest.
func decoderFor[T any]() func([]byte) (T, error) {
	var zero T
	switch any(&zero).(type) {
	case *any:
		return func(data []byte) (T, error) {
			var out T
			v, err := ParseJSON(data)
			if err != nil {
				return out, err
			}
			*any(&out).(*any) = v
			return out, nil
		}
	case *json.RawMessage:
		return func(data []byte) (T, error) {
			var out T
			if !json.Valid(data) {
				var v any
				return out, json.Unmarshal(data, &v)
			}
			*any(&out).(*json.RawMessage) = append(json.RawMessage(nil), data...)
			return out, nil
		}
	case *map[string]any, *[]any, *string, *bool, *float64, *int64, *int, *json.Number:
		// Through the SDK's parser, with its messages (and json.Number for numbers).
		return func(data []byte) (T, error) {
			var out T
			v, err := ParseJSON(data)
			if err != nil {
				return out, err
			}
			if err := convert(v, &out); err != nil {
				return out, err
			}
			return out, nil
		}
	}
	return func(data []byte) (T, error) {
		var out T
		err := json.Unmarshal(data, &out)
		return out, err
	}
}

func decodeJSONInto(data []byte, v any) error {
	parsed, err := ParseJSON(data)
	if err != nil {
		return err
	}
	return convert(parsed, v)
}

// typeName is a Go type's name for an accumulator format ("int64", "main.Total").
func typeName[T any]() string {
	t := reflect.TypeFor[T]()
	if t == nil {
		return "any"
	}
	return fmt.Sprint(t)
}
