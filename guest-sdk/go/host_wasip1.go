//go:build wasip1

package millrace

import "unsafe"

// The host interface every world imports (millrace:plugin/host@0.2.0).

//go:wasmimport millrace:plugin/host@0.2.0 log
func hostLog(level uint32, message unsafe.Pointer, length uint32)

//go:wasmimport millrace:plugin/host@0.2.0 counter-add
func hostCounterAdd(name unsafe.Pointer, length uint32, delta uint64)

//go:wasmimport millrace:plugin/host@0.2.0 gauge-set
func hostGaugeSet(name unsafe.Pointer, length uint32, value float64)

type wasmHost struct{}

func (wasmHost) Log(level Level, message string) {
	hostLog(uint32(level), unsafe.Pointer(unsafe.StringData(message)), uint32(len(message)))
}

func (wasmHost) CounterAdd(name string, delta uint64) {
	hostCounterAdd(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), delta)
}

func (wasmHost) GaugeSet(name string, value float64) {
	hostGaugeSet(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), value)
}

var host Host = wasmHost{}
