// Misbehaves on demand, to test how the host contains the faults of a Go plugin
// (the twin of plugins/faulty). A record whose value is {"fault": KIND} makes it:
//
//   - error: refuse the record (a returned error),
//   - panic: panic (recovered by the SDK: the record is dead-lettered with
//     "panic: boom: a deliberate panic (at plugin.go:LINE in main.(*Faulty).Process)"),
//   - loop: loop forever,
//   - bomb: allocate memory until it runs out (a Go runtime fatal error: the
//     instance ends),
//   - flood: emit 8 × 1 MiB of output, more than a test allows.
//
// Anything else passes through unchanged.
package main

import (
	"errors"
	"strings"

	"millrace.local/millrace"
	"millrace.local/millrace/dofn"
)

// Faulty is the misbehaving DoFn.
type Faulty struct{}

// New takes no configuration.
func New(millrace.Config) (millrace.DoFn[any], error) { return &Faulty{}, nil }

var (
	spins uint64
	hoard [][]byte
)

func (f *Faulty) Process(e *millrace.Element[any], out *millrace.Emitter) error {
	object, _ := e.Value.(map[string]any)
	fault, _ := object["fault"].(string)
	switch fault {
	case "error":
		return errors.New("this record is refused on purpose")
	case "panic":
		panic("boom: a deliberate panic")
	case "loop":
		for {
			spins++
		}
	case "bomb":
		for {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = 1
			}
			hoard = append(hoard, chunk)
		}
	case "flood":
		chunk := strings.Repeat("x", 1<<20)
		for range 8 {
			if err := out.Emit(chunk); err != nil {
				return err
			}
		}
		return nil
	}
	return out.Emit(e.Value)
}

func init() { dofn.Export(New) }

func main() {}
