//go:build wasip1

package combine

// The combine-plugin world's exports, lowered by hand (internal/abi has the rules).
// Flat signatures, from `wasm-tools component embed --dummy-names legacy wit
// --world combine-plugin -t`:
//
//	init: () -> i32 (result<info, error>: info is a string and an enum byte)
//	create-accumulator: () -> i32 (list<u8>)
//	add-inputs, uncombine: 10 × i32 (blobs, blobs, list<u32>) -> i32
//	  (result<added, error> and result<added, uncombine-error>: 28 bytes)
//	merge-accumulators: 6 × i32 (blobs, list<u32>) -> i32 (result<blobs, error>)
//	extract-outputs: 4 × i32 (blobs) -> i32 (result<blobs, error>)

import (
	"millrace.local/millrace"
	"millrace.local/millrace/internal/abi"
)

var runner millrace.CombineRunner

var area = make(abi.Area, 7)

func blobs(bytes, bytesLen, ends, endsLen uint32) millrace.Blobs {
	return millrace.Blobs{Bytes: abi.Bytes(bytes, bytesLen), Ends: abi.U32s(ends, endsLen)}
}

//go:wasmexport millrace:plugin/combine-fn@0.2.0#init
func wasmInit() uint32 {
	if newRunner == nil {
		return area.Fail("the plugin exports no CombineFn: call combine.Export in an init function")
	}
	config, err := millrace.ParseConfig(abi.Config())
	if err != nil {
		return area.Fail(err.Error())
	}
	if runner, err = newRunner(config); err != nil {
		return area.Fail(err.Error())
	}
	info := runner.Info()
	clear(area)
	abi.Str(area, 1, info.AccumulatorFormat)
	// The WIT enum: subtract, remove, none.
	inversion := uint8(2)
	switch info.Inversion {
	case millrace.Subtract:
		inversion = 0
	case millrace.Remove:
		inversion = 1
	}
	abi.Byte(area, 12, inversion)
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#init
func wasmInitPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/combine-fn@0.2.0#create-accumulator
func wasmCreate() uint32 {
	clear(area)
	if runner != nil {
		if data, err := runner.CreateAccumulator(); err == nil {
			abi.List(area, 0, data)
		}
	}
	return area.Ptr()
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#create-accumulator
func wasmCreatePost(uint32) { abi.Release() }

func lowerAdded(out millrace.Blobs, rejected []millrace.ElementError) uint32 {
	clear(area)
	abi.List(area, 1, out.Bytes)
	abi.List(area, 3, out.Ends)
	indexes := make([]uint32, len(rejected))
	messages := make([]string, len(rejected))
	for i, e := range rejected {
		indexes[i], messages[i] = e.Index, e.Message
	}
	abi.ErrorList(area, 5, indexes, messages)
	return area.Ptr()
}

//go:wasmexport millrace:plugin/combine-fn@0.2.0#add-inputs
func wasmAddInputs(accs, accsLen, accEnds, accEndsLen, inputs, inputsLen, inputEnds, inputEndsLen,
	groupEnds, groupEndsLen uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	out, rejected, err := runner.Add(blobs(accs, accsLen, accEnds, accEndsLen),
		blobs(inputs, inputsLen, inputEnds, inputEndsLen), abi.U32s(groupEnds, groupEndsLen), false)
	if err != nil {
		return area.Fail(err.Error())
	}
	return lowerAdded(out, rejected)
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#add-inputs
func wasmAddInputsPost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/combine-fn@0.2.0#uncombine
func wasmUncombine(accs, accsLen, accEnds, accEndsLen, inputs, inputsLen, inputEnds, inputEndsLen,
	groupEnds, groupEndsLen uint32) uint32 {
	failed := func(message string) uint32 {
		// result::err(uncombine-error::failed(error { message }))
		clear(area)
		area[0] = 1
		area[1] = 1
		abi.Str(area, 2, message)
		return area.Ptr()
	}
	if runner == nil {
		return failed("the plugin was not initialized")
	}
	if runner.Info().Inversion == millrace.NotInvertible {
		clear(area)
		area[0] = 1 // result::err(uncombine-error::not-invertible)
		return area.Ptr()
	}
	out, rejected, err := runner.Add(blobs(accs, accsLen, accEnds, accEndsLen),
		blobs(inputs, inputsLen, inputEnds, inputEndsLen), abi.U32s(groupEnds, groupEndsLen), true)
	if err != nil {
		return failed(err.Error())
	}
	return lowerAdded(out, rejected)
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#uncombine
func wasmUncombinePost(uint32) { abi.Release() }

func lowerBlobs(out millrace.Blobs, err error) uint32 {
	if err != nil {
		return area.Fail(err.Error())
	}
	clear(area)
	abi.List(area, 1, out.Bytes)
	abi.List(area, 3, out.Ends)
	return area.Ptr()
}

//go:wasmexport millrace:plugin/combine-fn@0.2.0#merge-accumulators
func wasmMerge(accs, accsLen, accEnds, accEndsLen, groupEnds, groupEndsLen uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	return lowerBlobs(runner.Merge(blobs(accs, accsLen, accEnds, accEndsLen), abi.U32s(groupEnds, groupEndsLen)))
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#merge-accumulators
func wasmMergePost(uint32) { abi.Release() }

//go:wasmexport millrace:plugin/combine-fn@0.2.0#extract-outputs
func wasmExtract(accs, accsLen, accEnds, accEndsLen uint32) uint32 {
	if runner == nil {
		return area.Fail("the plugin was not initialized")
	}
	return lowerBlobs(runner.Extract(blobs(accs, accsLen, accEnds, accEndsLen)))
}

//go:wasmexport cabi_post_millrace:plugin/combine-fn@0.2.0#extract-outputs
func wasmExtractPost(uint32) { abi.Release() }
