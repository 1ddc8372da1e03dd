//go:build wasip1

package window

// The window-plugin world's exports, lowered by hand (internal/abi has the rules).
// Flat signatures, from `wasm-tools component embed --dummy-names legacy wit
// --world window-plugin -t`:
//
//	init: () -> i32 (result<info, error>: info is one bool byte)
//	assign: 14 × i32 (elements) -> i32 (result<assignment, error>: three lists)
//	merge: 6 × i32 (three lists) -> i32 (result<merges, error>: four lists)

import (
	"millrace.local/millrace"
	"millrace.local/millrace/internal/abi"
)

var runner millrace.WindowRunner

var area = make(abi.Area, 9)

//go:wasmexport millrace:plugin/window-fn@0.2.0#init
func wasmInit() uint32 {
	if newRunner == nil {
		return area.Fail("the plugin exports no WindowFn: call window.Export in an init function")
	}
	config, err := millrace.ParseConfig(abi.Config())
	if err != nil {
		return area.Fail(err.Error())
	}
	if runner, err = newRunner(config); err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	if runner.Merging() {
		abi.Byte(area, 4, 1)
	}
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/window-fn@0.2.0#init
func wasmInitPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/window-fn@0.2.0#assign
func wasmAssign(keys, keysLen, keyEnds, keyEndsLen, values, valuesLen, valueEnds, valueEndsLen,
	timestamps, timestampsLen, windowStarts, windowStartsLen, windowEnds, windowEndsLen uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	in := millrace.Elements{
		Keys:         millrace.Blobs{Bytes: abi.Bytes(keys, keysLen), Ends: abi.U32s(keyEnds, keyEndsLen)},
		Values:       millrace.Blobs{Bytes: abi.Bytes(values, valuesLen), Ends: abi.U32s(valueEnds, valueEndsLen)},
		Timestamps:   abi.I64s(timestamps, timestampsLen),
		WindowStarts: abi.I64s(windowStarts, windowStartsLen),
		WindowEnds:   abi.I64s(windowEnds, windowEndsLen),
	}
	out, err := runner.Assign(in)
	if err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	abi.List(area, 1, out.Starts)
	abi.List(area, 3, out.Ends)
	abi.List(area, 5, out.Sources)
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/window-fn@0.2.0#assign
func wasmAssignPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/window-fn@0.2.0#merge
func wasmMerge(starts, startsLen, ends, endsLen, keyEnds, keyEndsLen uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	out, err := runner.Merge(abi.I64s(starts, startsLen), abi.I64s(ends, endsLen), abi.U32s(keyEnds, keyEndsLen))
	if err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	abi.List(area, 1, out.Starts)
	abi.List(area, 3, out.Ends)
	abi.List(area, 5, out.Members)
	abi.List(area, 7, out.MemberEnds)
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/window-fn@0.2.0#merge
func wasmMergePost(uint32) { abi.Release() }
