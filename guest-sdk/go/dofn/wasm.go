//go:build wasip1

package dofn

// The dofn-plugin world's exports and the state interface's imports, lowered by
// hand (internal/abi has the rules). Flat signatures, from
// `wasm-tools component embed --dummy-names legacy wit --world dofn-plugin -t`:
//
//	init: () -> i32 (result<_, error>: 12 bytes)
//	process: 14 × i32 (elements: keys and values as blobs, then three lists of s64)
//	  -> i32 (result<output, error>: 76 bytes)
//	on-timer: 12 × i32 (fired-timers) -> i32 (result<output, error>)

import (
	"unsafe"

	"millrace.local/millrace"
	"millrace.local/millrace/internal/abi"
)

var runner millrace.DoFnRunner

var initArea = make(abi.Area, 3)

//go:wasmexport millrace:plugin/dofn@0.2.0#init
func wasmInit() uint32 {
	if newRunner == nil {
		return initArea.Fail("the plugin exports no DoFn: call dofn.Export in an init function")
	}
	config, err := millrace.ParseConfig(abi.Config())
	if err != nil {
		return initArea.Fail(err.Error())
	}
	if runner, err = newRunner(config); err != nil {
		return initArea.Fail(err.Error())
	}
	initArea[0] = 0
	return initArea.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/dofn@0.2.0#init
func wasmInitPost(uint32) { abi.Release() }

var outputArea = make(abi.Area, 19)

func lowerOutput(out *millrace.Output, err error) uint32 {
	a := outputArea
	clear(a)
	if err != nil {
		a[0] = 1
		abi.Str(a, 1, err.Error())
		return a.Ptr()
	}
	abi.List(a, 1, out.Keys.Bytes)
	abi.List(a, 3, out.Keys.Ends)
	abi.List(a, 5, out.Values.Bytes)
	abi.List(a, 7, out.Values.Ends)
	abi.List(a, 9, out.Timestamps)
	abi.List(a, 11, out.Sources)
	abi.List(a, 13, out.Tags.Bytes)
	abi.List(a, 15, out.Tags.Ends)
	indexes := make([]uint32, len(out.Errors))
	messages := make([]string, len(out.Errors))
	for i, e := range out.Errors {
		indexes[i], messages[i] = e.Index, e.Message
	}
	abi.ErrorList(a, 17, indexes, messages)
	return a.Ptr()
}

//go:wasmexport millrace:plugin/dofn@0.2.0#process
func wasmProcess(keys, keysLen, keyEnds, keyEndsLen, values, valuesLen, valueEnds, valueEndsLen,
	timestamps, timestampsLen, windowStarts, windowStartsLen, windowEnds, windowEndsLen uint32) uint32 {
	if runner == nil {
		return lowerOutput(nil, notInitialized{})
	}
	in := millrace.Elements{
		Keys:         millrace.Blobs{Bytes: abi.Bytes(keys, keysLen), Ends: abi.U32s(keyEnds, keyEndsLen)},
		Values:       millrace.Blobs{Bytes: abi.Bytes(values, valuesLen), Ends: abi.U32s(valueEnds, valueEndsLen)},
		Timestamps:   abi.I64s(timestamps, timestampsLen),
		WindowStarts: abi.I64s(windowStarts, windowStartsLen),
		WindowEnds:   abi.I64s(windowEnds, windowEndsLen),
	}
	return lowerOutput(runner.Process(hostState{}, in))
}

//go:wasmexport cabi_post_millrace:plugin/dofn@0.2.0#process
func wasmProcessPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/dofn@0.2.0#on-timer
func wasmOnTimer(keys, keysLen, keyEnds, keyEndsLen, windowStarts, windowStartsLen,
	windowEnds, windowEndsLen, names, namesLen, times, timesLen uint32) uint32 {
	if runner == nil {
		return lowerOutput(nil, notInitialized{})
	}
	timers := millrace.FiredTimers{
		Keys:         millrace.Blobs{Bytes: abi.Bytes(keys, keysLen), Ends: abi.U32s(keyEnds, keyEndsLen)},
		WindowStarts: abi.I64s(windowStarts, windowStartsLen),
		WindowEnds:   abi.I64s(windowEnds, windowEndsLen),
		Names:        abi.Strings(names, namesLen),
		Times:        abi.I64s(times, timesLen),
	}
	return lowerOutput(runner.OnTimer(hostState{}, timers))
}

//go:wasmexport cabi_post_millrace:plugin/dofn@0.2.0#on-timer
func wasmOnTimerPost(uint32) { abi.Release() }

type notInitialized struct{}

func (notInitialized) Error() string { return "the plugin was not initialized" }

// The state interface (millrace:plugin/state@0.2.0).

//go:wasmimport millrace:plugin/state@0.2.0 get
func stateGet(element uint32, name unsafe.Pointer, nameLen uint32, ret unsafe.Pointer)

//go:wasmimport millrace:plugin/state@0.2.0 set
func stateSet(element uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport millrace:plugin/state@0.2.0 clear
func stateClear(element uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport millrace:plugin/state@0.2.0 set-event-timer
func stateSetEventTimer(element uint32, name unsafe.Pointer, nameLen uint32, time int64)

//go:wasmimport millrace:plugin/state@0.2.0 set-processing-timer
func stateSetProcessingTimer(element uint32, name unsafe.Pointer, nameLen uint32, time int64)

//go:wasmimport millrace:plugin/state@0.2.0 clear-timer
func stateClearTimer(element uint32, name unsafe.Pointer, nameLen uint32)

// getArea is get's return area, option<list<u8>>: a tag byte, then (ptr, len). A
// global, as abi.Config's is.
var getArea [3]uint32

func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

// hostState is the host's keyed state and timers.
type hostState struct{}

func (hostState) Get(element uint32, name string) ([]byte, bool) {
	p, n := str(name)
	getArea = [3]uint32{}
	stateGet(element, p, n, unsafe.Pointer(&getArea))
	if getArea[0]&0xff == 0 {
		return nil, false
	}
	// A copy: the plugin may keep it past the call.
	value := make([]byte, getArea[2])
	copy(value, abi.Bytes(getArea[1], getArea[2]))
	return value, true
}

func (hostState) Set(element uint32, name string, value []byte) {
	p, n := str(name)
	stateSet(element, p, n, unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)))
}

func (hostState) Clear(element uint32, name string) {
	p, n := str(name)
	stateClear(element, p, n)
}

func (hostState) SetEventTimer(element uint32, name string, time int64) {
	p, n := str(name)
	stateSetEventTimer(element, p, n, time)
}

func (hostState) SetProcessingTimer(element uint32, name string, time int64) {
	p, n := str(name)
	stateSetProcessingTimer(element, p, n, time)
}

func (hostState) ClearTimer(element uint32, name string) {
	p, n := str(name)
	stateClearTimer(element, p, n)
}
