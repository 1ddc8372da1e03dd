/* Misbehaves on demand, to test how the host contains faults of a C plugin (the twin
 * of plugins/faulty). A record whose value is {"fault": KIND} makes it:
 *
 *   error  refuse the record (a returned mr_error),
 *   panic  crash: mr_panic(), which logs "panicked at plugin.c:LINE: ..." to the
 *          host's log and traps (abort() or __builtin_trap() trap the same way),
 *   loop   loop forever,
 *   bomb   allocate 1 MiB blocks (and write them) until malloc gives up, then trap,
 *   flood  emit 8 MiB of output (8 strings of 1 MiB), more than a test allows.
 *
 * Anything else passes through unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "millrace.h"

#define MIB (1 << 20)

static mr_status process(mr_ctx *ctx, const mr_element *element, mr_emitter *out) {
    const mr_json *fault = mr_json_get(element->value, "fault");
    if (mr_json_string_is(fault, "error")) {
        return mr_error(ctx, "this record is refused on purpose");
    }
    if (mr_json_string_is(fault, "panic")) {
        mr_panic("boom: a deliberate panic");
    }
    if (mr_json_string_is(fault, "loop")) {
        volatile unsigned long spins = 0;
        for (;;) spins++;
    }
    if (mr_json_string_is(fault, "bomb")) {
        void **hoard = NULL;
        for (;;) {
            void **block = malloc(MIB);
            if (!block) break;
            memset(block, 1, MIB);
            *block = hoard;
            hoard = block;
        }
        /* The host refused to grow the memory: give up as Rust's allocator does. */
        abort();
    }
    if (mr_json_string_is(fault, "flood")) {
        char *chunk = mr_alloc(ctx, MIB);
        memset(chunk, 'x', MIB);
        const mr_json *text = mr_json_new_string_n(ctx, chunk, MIB);
        for (int i = 0; i < 8; i++) {
            if (mr_emit(out, text) != MR_OK) return MR_ERROR;
        }
        return MR_OK;
    }
    /* Pass the value through as the host sent it. */
    return mr_emit_json_text(out, element->raw_value, element->raw_value_len);
}

MILLRACE_DOFN(.process = process);
