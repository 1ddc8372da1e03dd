//go:build wasip1

// Package abi is the canonical ABI of the component model, by hand, for the world
// packages: memory the host allocates in the component (cabi_realloc), lifting the
// flat parameters of an export into Go slices, and lowering results into a return
// area. (wit-bindgen-go would generate this, but needs the Go module proxy.)
//
// Memory rules. The host calls cabi_realloc to place an export's lists (and an
// import's results) in linear memory; those blocks are Go allocations kept alive in
// a list until the export's cabi_post_* function, which the host calls once it has
// read the results, releases them. An export lifts its lists as slices that view
// those blocks in place (no copy), so the SDK copies anything a plugin may keep past
// the call. Results are lowered as pointers into Go memory (the output columns),
// also kept alive until cabi_post_*. Go's collector does not move objects, so a
// block stays where the host was told it is.
package abi

import "unsafe"

// held are the blocks the host allocated and the results lowered since the last
// cabi_post_* call.
var (
	held []unsafe.Pointer
	kept []any
)

// noImports is the runtime's flag (added by build.sh's runtime patch) that keeps
// the runtime from calling imports: the host forbids them while it lowers values
// into the component (cabi_realloc) and in cabi_post_*, and the collector, which an
// allocation may start, reads the clock.
//
//go:linkname noImports runtime.millraceNoImports
var noImports bool

//go:wasmexport cabi_realloc
func cabiRealloc(oldPtr, oldSize, align, newSize uint32) uint32 {
	noImports = true
	defer func() { noImports = false }()
	if newSize == 0 {
		return align // a non-null, aligned pointer to nothing
	}
	// []uint64 blocks are 8-aligned (the largest alignment of this WIT package) and
	// hold no Go pointers, so the collector never scans them.
	block := make([]uint64, (newSize+7)/8)
	ptr := unsafe.Pointer(unsafe.SliceData(block))
	if oldPtr != 0 && oldSize != 0 {
		copy(unsafe.Slice((*byte)(ptr), newSize), unsafe.Slice((*byte)(addr(oldPtr)), min(oldSize, newSize)))
	}
	held = append(held, ptr)
	return uint32(uintptr(ptr))
}

// Release forgets the blocks and results of the call that ended (cabi_post_*).
func Release() {
	noImports = true
	defer func() { noImports = false }()
	clear(held)
	held = held[:0]
	clear(kept)
	kept = kept[:0]
}

func addr(p uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(p)) }

// Bytes is the list<u8> at (ptr, n), in place.
func Bytes(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(addr(ptr)), n)
}

// U32s is the list<u32> at (ptr, n), in place.
func U32s(ptr, n uint32) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(addr(ptr)), n)
}

// I64s is the list<s64> at (ptr, n), in place.
func I64s(ptr, n uint32) []int64 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(addr(ptr)), n)
}

// String is the string at (ptr, n), copied.
func String(ptr, n uint32) string { return string(Bytes(ptr, n)) }

// Strings is the list<string> at (ptr, n), copied: each item is (ptr, len).
func Strings(ptr, n uint32) []string {
	words := U32s(ptr, 2*n)
	out := make([]string, n)
	for i := range out {
		out[i] = String(words[2*i], words[2*i+1])
	}
	return out
}

// Area is a return area: the flat words of a result, read by the host.
type Area []uint32

// Ptr is the area's address, for the host.
func (a Area) Ptr() uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(a)))) }

// Fail fills the area with result<_, error>'s err case holding message.
func (a Area) Fail(message string) uint32 {
	clear(a)
	a[0] = 1
	Str(a, 1, message)
	return a.Ptr()
}

// List stores a list's (ptr, len) at word i; the slice is kept alive until Release.
func List[T any](a Area, i int, items []T) {
	if len(items) == 0 {
		a[i], a[i+1] = 0, 0
		return
	}
	kept = append(kept, items)
	a[i] = uint32(uintptr(unsafe.Pointer(unsafe.SliceData(items))))
	a[i+1] = uint32(len(items))
}

// Str stores a string's (ptr, len) at word i.
func Str(a Area, i int, s string) {
	if len(s) == 0 {
		a[i], a[i+1] = 0, 0
		return
	}
	kept = append(kept, s)
	a[i] = uint32(uintptr(unsafe.Pointer(unsafe.StringData(s))))
	a[i+1] = uint32(len(s))
}

// ErrorList lowers list<element-error> (record { index: u32, message: string },
// 12 bytes each) and stores its (ptr, len) at word i.
func ErrorList(a Area, i int, indexes []uint32, messages []string) {
	words := make([]uint32, 3*len(indexes))
	for k, index := range indexes {
		words[3*k] = index
		if m := messages[k]; m != "" {
			kept = append(kept, m)
			words[3*k+1] = uint32(uintptr(unsafe.Pointer(unsafe.StringData(m))))
			words[3*k+2] = uint32(len(m))
		}
	}
	List(a, i, words)
	if len(indexes) > 0 {
		a[i+1] = uint32(len(indexes))
	}
}

// Bools lowers list<bool> (a byte each) at word i.
func Bools(a Area, i int, values []bool) {
	bytes := make([]byte, len(values))
	for k, v := range values {
		if v {
			bytes[k] = 1
		}
	}
	List(a, i, bytes)
}

// Byte stores a u8 (a discriminant, an enum, a bool) at byte offset off of the area.
func Byte(a Area, off int, v uint8) {
	*(*uint8)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(a)), off)) = v
}

// The host interface's config import (every world has it).

//go:wasmimport millrace:plugin/host@0.2.0 config
func hostConfig(ret unsafe.Pointer)

// configArea is config's return area (a global: the host writes it after calling
// cabi_realloc, which runs Go code that may move a goroutine's stack).
var configArea [2]uint32

// Config is the step's configuration text.
func Config() []byte {
	hostConfig(unsafe.Pointer(&configArea))
	return []byte(String(configArea[0], configArea[1]))
}
