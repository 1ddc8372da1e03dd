/* The SDK's insides, shared by its .c files; not for plugins. */
#ifndef MILLRACE_INTERNAL_H
#define MILLRACE_INTERNAL_H

#include "millrace.h"

/* -- Arena -------------------------------------------------------------------------- */

typedef struct mr_chunk {
    struct mr_chunk *next;
    size_t size;
    size_t used;
    /* the bytes follow, 16-aligned */
} mr_chunk;

typedef struct {
    mr_chunk *head;
} mr_arena;

void *mr_arena_alloc(mr_arena *arena, size_t size);
/* Frees all but the first chunk (kept for the next call) and empties it. */
void mr_arena_reset(mr_arena *arena);

/* malloc that traps when memory runs out. */
void *mr_xmalloc(size_t size);
void *mr_xrealloc(void *p, size_t size);
MR_NORETURN void mr_trap(void);

/* -- Growable columns (malloc'd, so that the bindings can own and free them) ---------- */

typedef struct {
    uint32_t *data;
    size_t len, cap;
} mr_u32s;
typedef struct {
    int64_t *data;
    size_t len, cap;
} mr_i64s;

void mr_u32s_push(mr_u32s *v, uint32_t x);
void mr_i64s_push(mr_i64s *v, int64_t x);

/* Blobs as the WIT lays them out: bytes end to end, and where each item ends. */
typedef struct {
    mr_buf bytes;
    mr_u32s ends;
} mr_blobs;

void mr_blobs_push(mr_blobs *b, const void *data, size_t len);
/* Closes an item whose bytes were appended to b->bytes directly. */
void mr_blobs_end(mr_blobs *b);

/* A read-only view of blobs coming in. */
typedef struct {
    const uint8_t *bytes;
    size_t bytes_len;
    const uint32_t *ends;
    size_t count;
} mr_blobs_in;

/* Item i's bytes (clamped to the buffer). */
const uint8_t *mr_item(const mr_blobs_in *b, size_t i, size_t *len);

/* -- Formatting ------------------------------------------------------------------- */

/* printf-style formatting into a buffer (no libc stdio: it would import WASI). */
void mr_vformat(mr_buf *out, const char *fmt, va_list args);
/* The shortest text (up to 17 digits) that reads back as d; "1.0" style for
 * integral values; d must be finite. Returns the length written to buf (>= 32). */
size_t mr_format_double(char *buf, double d);

/* -- The host, as the runners see it ------------------------------------------------ */

/* What every world imports, and the DoFn world's state (NULL elsewhere). The wasm
 * glue points these at the generated bindings; the test harness at its fakes. */
typedef struct {
    void (*log)(mr_level level, const char *message, size_t len);
    void (*counter_add)(const char *name, size_t len, uint64_t delta);
    void (*gauge_set)(const char *name, size_t len, double value);
    /* The step's configuration as JSON text (malloc'd; the caller frees it). */
    char *(*config)(size_t *len);
    /* State: false when the cell is empty; else *data is malloc'd (the caller frees
     * it; NULL when empty). */
    bool (*state_get)(uint32_t index, const char *name, size_t name_len, const uint8_t **data,
                      size_t *len);
    void (*state_set)(uint32_t index, const char *name, size_t name_len, const uint8_t *data,
                      size_t len);
    void (*state_clear)(uint32_t index, const char *name, size_t name_len);
    void (*timer_set_event)(uint32_t index, const char *name, size_t name_len, int64_t time);
    void (*timer_set_processing)(uint32_t index, const char *name, size_t name_len, int64_t time);
    void (*timer_clear)(uint32_t index, const char *name, size_t name_len);
} mr_host;

extern const mr_host *mr_current_host;

/* -- The context of a call ----------------------------------------------------------- */

/* A state or timer write held back until its element succeeds. */
typedef enum { OP_SET, OP_CLEAR, OP_EVENT, OP_PROCESSING, OP_CLEAR_TIMER } mr_op_kind;

typedef struct {
    uint32_t index; /* the element (or timer) that wrote it */
    uint8_t kind;
    bool dropped;
    const char *name;
    size_t name_len;
    const uint8_t *data; /* OP_SET */
    size_t len;
    int64_t time; /* timers */
} mr_op;

/* A counter or gauge of the call, reported at its end. */
typedef struct {
    char *name;
    size_t len;
    bool gauge;
    uint64_t delta;
    double value;
} mr_metric;

struct mr_ctx {
    mr_arena *arena; /* the call's, or the instance's during init */
    char *error;     /* the last mr_error, in the arena */
    /* The batch whose elements (or timers) the state functions name by index. */
    mr_blobs_in keys;
    const int64_t *window_starts;
    const int64_t *window_ends;
    /* Writes held back. */
    mr_op *ops;
    size_t ops_len, ops_cap;
    size_t first_open; /* ops before it are committed or dropped */
    int32_t *table;    /* open-addressed index of the cell writes, by identity and name */
    size_t table_cap;
    size_t table_used;
};

/* The SDK's single context, and the instance's arena. */
extern mr_ctx mr_the_ctx;
extern mr_arena mr_call_arena;
extern mr_arena mr_instance_arena;

/* Starts a call: the call's arena, no error, no batch. */
mr_ctx *mr_call_begin(void);
/* Ends it: commits nothing (the runner did), reports metrics, frees the arena. */
void mr_call_end(void);
/* init runs in the instance's arena. */
mr_ctx *mr_init_begin(void);
void mr_init_end(void);
void mr_flush_metrics(void);

/* Held-back writes: from `first_open` on, for elements not in `rejected` (NULL:
 * none), passed to the host in order; then forgotten. */
void mr_ops_commit(mr_ctx *ctx, const uint8_t *rejected);
/* Drops the open writes of element `index` (all open writes if index is -1). */
void mr_ops_drop(mr_ctx *ctx, int64_t index);

/* -- JSON internals ------------------------------------------------------------------ */

/* Writes v's JSON text to out; false if it holds a NaN or an infinity. */
bool mr_json_write_to(mr_buf *out, const mr_json *v);
/* Parse without touching ctx->error: the message goes to *message. */
mr_status mr_json_parse_quiet(mr_arena *arena, const char *text, size_t len, const mr_json **out,
                              char **message);
/* "\"name\"" quoting as Rust's {:?} and Python's json.dumps quote a name. */
void mr_quote(mr_buf *out, const char *s, size_t len);

/* -- Runners: batches in plain columns, as the host lays them out ----------------- */

typedef struct {
    mr_blobs_in keys;
    mr_blobs_in values;
    const int64_t *timestamps;
    const int64_t *window_starts;
    const int64_t *window_ends;
    size_t count;
} mr_elements_in;

/* A DoFn call's output, as the WIT's `output` record holds it. */
typedef struct {
    mr_blobs keys;
    mr_blobs values;
    mr_i64s timestamps;
    mr_u32s sources;
    mr_blobs tags; /* empty unless some output goes to a side output */
    /* element errors */
    mr_u32s error_indexes;
    char **error_messages; /* malloc'd strings */
    size_t errors_len, errors_cap;
} mr_dofn_output;

void mr_dofn_output_free(mr_dofn_output *out);

/* Each returns MR_OK, or MR_ERROR with the call's message in *message (malloc'd). */
mr_status mr_run_init(char **message);
mr_status mr_run_process(const mr_elements_in *in, mr_dofn_output *out, char **message);
typedef struct {
    mr_blobs_in keys;
    const int64_t *window_starts;
    const int64_t *window_ends;
    const char *const *names;
    const size_t *name_lens;
    const int64_t *times;
    size_t count;
} mr_timers_in;
mr_status mr_run_on_timer(const mr_timers_in *in, mr_dofn_output *out, char **message);

/* CombineFn. */
typedef struct {
    mr_blobs accumulators;
    mr_u32s rejected_indexes;
    char **rejected_messages;
    size_t rejected_len, rejected_cap;
} mr_added;
void mr_added_free(mr_added *a);
const char *mr_combine_format(void); /* "<codec format>/<accumulator format>" */
mr_inversion mr_combine_inversion(void);
void mr_run_create_accumulator(mr_buf *out);
mr_status mr_run_add(const mr_blobs_in *accumulators, const mr_blobs_in *inputs,
                     const uint32_t *group_ends, size_t groups, bool retract, mr_added *out,
                     char **message);
mr_status mr_run_merge(const mr_blobs_in *accumulators, const uint32_t *group_ends, size_t groups,
                       mr_blobs *out, char **message);
mr_status mr_run_extract(const mr_blobs_in *accumulators, mr_blobs *out, char **message);

/* WindowFn. */
bool mr_window_merging(void);
typedef struct mr_windows {
    mr_i64s starts, ends;
    mr_u32s sources;
    uint32_t source;
} mr_windows_out;
mr_status mr_run_assign(const mr_elements_in *in, mr_windows_out *out, char **message);
typedef struct mr_merges {
    mr_i64s starts, ends;
    mr_u32s members, member_ends;
    size_t offset; /* the key's first window in the call */
    size_t count;  /* how many windows the key has */
} mr_merges_out;
mr_status mr_run_merge_windows(const int64_t *starts, const int64_t *ends, size_t count,
                               const uint32_t *key_ends, size_t keys, mr_merges_out *out,
                               char **message);

/* Trigger. */
mr_status mr_run_on_elements(const mr_blobs_in *states, const mr_elements_in *in,
                             const uint32_t *element_ends, size_t windows, mr_blobs *out_states,
                             bool **fire, char **message);

/* A malloc'd copy of a message. */
char *mr_strdup_n(const char *s, size_t len);

#endif
