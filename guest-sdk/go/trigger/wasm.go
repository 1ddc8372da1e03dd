//go:build wasip1

package trigger

// The trigger-plugin world's exports, lowered by hand (internal/abi has the rules).
// Flat signatures, from `wasm-tools component embed --dummy-names legacy wit
// --world trigger-plugin -t`:
//
//	init: () -> i32 (result<_, error>)
//	on-elements: (i32) -> i32. Its parameters flatten to 20 values, more than the
//	  canonical ABI's 16, so the host passes them in memory: a pointer to the record
//	  (states: blobs, input: elements, element-ends: list<u32>), 20 words of
//	  (ptr, len) pairs. The result is result<decision, error>: blobs and list<bool>.

import (
	"millrace.local/millrace"
	"millrace.local/millrace/internal/abi"
)

var runner millrace.TriggerRunner

var area = make(abi.Area, 7)

//go:wasmexport millrace:plugin/trigger@0.2.0#init
func wasmInit() uint32 {
	if newRunner == nil {
		return area.Fail("the plugin exports no Trigger: call trigger.Export in an init function")
	}
	config, err := millrace.ParseConfig(abi.Config())
	if err != nil {
		return area.Fail(err.Error())
	}
	if runner, err = newRunner(config); err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/trigger@0.2.0#init
func wasmInitPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/trigger@0.2.0#on-elements
func wasmOnElements(args uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	w := abi.U32s(args, 20)
	states := millrace.Blobs{Bytes: abi.Bytes(w[0], w[1]), Ends: abi.U32s(w[2], w[3])}
	in := millrace.Elements{
		Keys:         millrace.Blobs{Bytes: abi.Bytes(w[4], w[5]), Ends: abi.U32s(w[6], w[7])},
		Values:       millrace.Blobs{Bytes: abi.Bytes(w[8], w[9]), Ends: abi.U32s(w[10], w[11])},
		Timestamps:   abi.I64s(w[12], w[13]),
		WindowStarts: abi.I64s(w[14], w[15]),
		WindowEnds:   abi.I64s(w[16], w[17]),
	}
	elementEnds := abi.U32s(w[18], w[19])
	out, fire, err := runner.OnElements(states, in, elementEnds)
	if err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	abi.List(area, 1, out.Bytes)
	abi.List(area, 3, out.Ends)
	abi.Bools(area, 5, fire)
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/trigger@0.2.0#on-elements
func wasmOnElementsPost(uint32) { abi.Release() }
