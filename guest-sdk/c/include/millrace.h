/*
 * millrace.h — write millrace plugins (DoFns, CombineFns, window functions,
 * data-driven triggers) in C.
 *
 * A plugin is one C file, `plugin.c`, that fills in the callbacks of one kind and
 * exports them with one of four macros:
 *
 *     MILLRACE_DOFN(.init = start, .process = process, .on_timer = expire);
 *     MILLRACE_COMBINE(.accumulator_codec = &MR_POSTCARD_I64, .add_input = add, ...);
 *     MILLRACE_WINDOW(.assign = assign);
 *     MILLRACE_TRIGGER(.state_codec = &MR_POSTCARD_F64, .on_elements = decide);
 *
 * `guest-sdk/c/build.sh PLUGIN_DIR OUT.wasm` compiles it with the SDK into a
 * component of the matching world (it reads the kind from the macro). The same file
 * compiles natively against a fake host (millrace_testing.h) for unit tests.
 *
 * What the author sees
 *   - Values are decoded JSON (`const mr_json *`, read with the mr_json_* functions);
 *     the host's column-by-column batches are never seen.
 *   - A callback returns MR_OK, or `return mr_error(ctx, "why %s", it);`, which
 *     dead-letters the element (or fails the call) with that message. What the
 *     element emitted is taken back, and so are its state and timer writes.
 *   - mr_panic() (or abort(), or a trap) ends the instance; the host re-creates it.
 *
 * Memory and ownership
 *   - Every call has an arena. Everything the SDK hands a callback (elements, their
 *     JSON values, timers, state bytes) and everything a callback makes with the
 *     SDK (mr_json_new_*, mr_alloc, mr_printf, mr_json_parse) lives in it and is
 *     freed when the call returns. Do not keep pointers to it across calls: copy what
 *     must last into memory of your own (malloc) or make it in `init`.
 *   - In `init` the arena is the instance's: what `init` allocates with the SDK
 *     (and the configuration it is given) lives as long as the plugin.
 *   - Emitting copies: a value may be discarded once mr_emit* returns.
 *   - Accumulators and trigger states are fixed-size C values (`accumulator_size` /
 *     the codec's `size` bytes) that the SDK allocates and passes by pointer.
 *
 * Failure to allocate traps the instance (the host reports its memory limit).
 */
#ifndef MILLRACE_H
#define MILLRACE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MR_NORETURN __attribute__((noreturn))
#else
#define MR_PRINTF(f, a)
#define MR_NORETURN
#endif

/* -- Status and errors ---------------------------------------------------------- */

/* What a callback returns: MR_OK, or MR_ERROR after mr_error() said why. */
typedef int mr_status;
#define MR_OK 0
#define MR_ERROR 1

/* The call in progress: its arena, its error, its state and timers. */
typedef struct mr_ctx mr_ctx;

/* Records `fmt` (printf-style: %s %.*s %c %d %i %u %x with h/l/ll/z/j, %g %f %e
 * for doubles, %%) as the error of the element (or call) being handled, and
 * returns MR_ERROR: `return mr_error(ctx, "no field \"%s\"", name);` */
mr_status mr_error(mr_ctx *ctx, const char *fmt, ...) MR_PRINTF(2, 3);

/* The message of the last mr_error of this call, or NULL. */
const char *mr_last_error(const mr_ctx *ctx);

/* A deliberate crash: logs "panicked at FILE:LINE: message" to the host's log at
 * error level, then traps. The host dead-letters the element the call was handling
 * (with the trap) and re-creates the instance. */
#define mr_panic(...) mr_panic_at(__FILE__, __LINE__, __VA_ARGS__)
MR_NORETURN void mr_panic_at(const char *file, int line, const char *fmt, ...) MR_PRINTF(3, 4);

/* -- Memory of the call ----------------------------------------------------------- */

/* `size` bytes (16-aligned, uninitialized) that live until the call returns (in
 * `init`: as long as the plugin). Never NULL. */
void *mr_alloc(mr_ctx *ctx, size_t size);

/* A formatted string (as mr_error formats) in the call's memory. */
char *mr_printf(mr_ctx *ctx, const char *fmt, ...) MR_PRINTF(2, 3);
char *mr_vprintf(mr_ctx *ctx, const char *fmt, va_list args);

/* A growable byte buffer (malloc'd): accumulator and state codecs write into one. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} mr_buf;

void mr_buf_push(mr_buf *buf, const void *data, size_t len);
void mr_buf_byte(mr_buf *buf, uint8_t byte);
void mr_buf_free(mr_buf *buf);

/* -- JSON ------------------------------------------------------------------------- */

/* A JSON value. Read it with the functions below; each accepts NULL (a missing
 * value) and then answers as for a value of no type. */
typedef struct mr_json mr_json;

typedef enum {
    MR_JSON_NULL,
    MR_JSON_BOOL,
    MR_JSON_NUMBER,
    MR_JSON_STRING,
    MR_JSON_ARRAY,
    MR_JSON_OBJECT,
    MR_JSON_MISSING /* what mr_json_type(NULL) says */
} mr_json_type_t;

mr_json_type_t mr_json_type(const mr_json *v);
/* "null", "a boolean", "an integer", "a number", "a string", "a list", "a map",
 * "nothing": for messages. */
const char *mr_json_type_name(const mr_json *v);

bool mr_json_is_null(const mr_json *v);
bool mr_json_is_bool(const mr_json *v);
bool mr_json_is_number(const mr_json *v);
/* A number written without fraction or exponent that fits an int64_t. */
bool mr_json_is_int(const mr_json *v);
bool mr_json_is_string(const mr_json *v);
bool mr_json_is_array(const mr_json *v);
bool mr_json_is_object(const mr_json *v);

bool mr_json_bool(const mr_json *v);     /* false unless a boolean true */
int64_t mr_json_int(const mr_json *v);   /* the integer, or 0 */
double mr_json_double(const mr_json *v); /* any number as a double, or 0 */
/* The string's bytes (UTF-8, NUL-terminated; may hold NULs, see _len), or NULL. */
const char *mr_json_string(const mr_json *v);
size_t mr_json_string_len(const mr_json *v);
/* Whether v is the string s. */
bool mr_json_string_is(const mr_json *v, const char *s);

/* Items of an array, members of an object: how many, and each in order. */
size_t mr_json_len(const mr_json *v);
const mr_json *mr_json_at(const mr_json *array, size_t i);
const char *mr_json_key_at(const mr_json *object, size_t i);
const mr_json *mr_json_value_at(const mr_json *object, size_t i);
/* The member `name` of an object, or NULL (also when v is not an object). */
const mr_json *mr_json_get(const mr_json *object, const char *name);
const mr_json *mr_json_get_n(const mr_json *object, const char *name, size_t len);
/* The member at a dotted path ("user.address.city"), or NULL. */
const mr_json *mr_json_path(const mr_json *v, const char *path);

/* JSON equality: 1, 1.0 and true are three different values; members of objects
 * in any order. */
bool mr_json_equal(const mr_json *a, const mr_json *b);

/* Parses `len` bytes of JSON text. On failure returns MR_ERROR with a message in
 * the style of Rust's serde_json ("expected value at line 1 column 1"); with
 * `ctx`'s error set to it. */
mr_status mr_json_parse(mr_ctx *ctx, const char *text, size_t len, const mr_json **out);

/* The compact JSON text of v (NUL-terminated, in the call's memory), or NULL (and
 * ctx's error set) if v holds a NaN or an infinity. */
const char *mr_json_write(mr_ctx *ctx, const mr_json *v, size_t *len);

/* The JSON text of v as Rust's serde_json writes a serde_json::Value: object keys
 * sorted, numbers as serde_json prints them (1e2 as 100.0). Names built from values
 * this way (state cells, timers) match those of a Rust plugin. */
const char *mr_json_write_canonical(mr_ctx *ctx, const mr_json *v, size_t *len);

/* New values, in the call's memory. Arrays and objects grow with push / set. */
mr_json *mr_json_new_null(mr_ctx *ctx);
mr_json *mr_json_new_bool(mr_ctx *ctx, bool b);
mr_json *mr_json_new_int(mr_ctx *ctx, int64_t i);
mr_json *mr_json_new_double(mr_ctx *ctx, double d);
mr_json *mr_json_new_string(mr_ctx *ctx, const char *s);
mr_json *mr_json_new_string_n(mr_ctx *ctx, const char *s, size_t len);
mr_json *mr_json_new_array(mr_ctx *ctx);
mr_json *mr_json_new_object(mr_ctx *ctx);
/* Appends an item to an array. */
void mr_json_push(mr_ctx *ctx, mr_json *array, const mr_json *item);
/* Sets an object's member `name` (replacing one of that name). */
void mr_json_set(mr_ctx *ctx, mr_json *object, const char *name, const mr_json *value);

/* -- Configuration ------------------------------------------------------------- */

/* Readers of the step's configuration (the spec's `config`, a JSON object handed to
 * `init`). Each stores the setting in *out, or `fallback` when it is absent or
 * null, and fails with a message naming the setting when it has another type:
 * `config "size": expected an integer, got a string`. The _require_ forms fail
 * with `config "size" is required` when it is absent. Doubles accept integers. */
mr_status mr_config_string(mr_ctx *ctx, const mr_json *config, const char *name,
                           const char *fallback, const char **out);
mr_status mr_config_int(mr_ctx *ctx, const mr_json *config, const char *name,
                        int64_t fallback, int64_t *out);
mr_status mr_config_double(mr_ctx *ctx, const mr_json *config, const char *name,
                           double fallback, double *out);
mr_status mr_config_bool(mr_ctx *ctx, const mr_json *config, const char *name,
                         bool fallback, bool *out);
/* A map setting (NULL when absent). */
mr_status mr_config_object(mr_ctx *ctx, const mr_json *config, const char *name,
                           const mr_json **out);
mr_status mr_config_require_string(mr_ctx *ctx, const mr_json *config, const char *name,
                                   const char **out);
mr_status mr_config_require_int(mr_ctx *ctx, const mr_json *config, const char *name,
                                int64_t *out);
mr_status mr_config_require_double(mr_ctx *ctx, const mr_json *config, const char *name,
                                   double *out);
/* Refuses settings other than the names given (a NULL-terminated list):
 * `config: unknown setting "x", expected one of "a", "b"`. */
mr_status mr_config_allow_only(mr_ctx *ctx, const mr_json *config, ...);

/* -- Windows, elements, timers ---------------------------------------------------- */

/* Milliseconds since the Unix epoch. */
#define MR_MIN_TIME INT64_MIN
#define MR_MAX_TIME INT64_MAX

/* A window of event time: [start, end) in ms; the global window is
 * [MR_MIN_TIME, MR_MAX_TIME). */
typedef struct {
    int64_t start;
    int64_t end;
} mr_window;

#define MR_GLOBAL_WINDOW ((mr_window){MR_MIN_TIME, MR_MAX_TIME})
bool mr_window_is_global(mr_window w);

/* An element handed to a plugin. */
typedef struct {
    const mr_json *key;   /* its key (JSON null when it has none) */
    const mr_json *value; /* its value */
    int64_t timestamp;    /* its event time */
    mr_window window;     /* its window */
    uint32_t index;       /* its position in the batch: names its key and window to
                             the state and timer functions */
    const char *raw_key;  /* the key's and value's JSON text, as the host sent it */
    size_t raw_key_len;
    const char *raw_value;
    size_t raw_value_len;
} mr_element;

/* A timer that fired. */
typedef struct {
    const mr_json *key; /* the key it was set for */
    mr_window window;   /* the window it was set for */
    const char *name;   /* its name */
    int64_t time;       /* the time it was set for */
    uint32_t index;     /* its position in the call: names its key and window */
    const char *raw_key;
    size_t raw_key_len;
} mr_timer;

/* -- Keyed state and timers (DoFns) ------------------------------------------------ */

/* The cell `name` of the key and window of element (or timer) `index`. Writes are
 * held back until the element's callback succeeds (and dropped if it fails);
 * reads see them. */
bool mr_state_get(mr_ctx *ctx, uint32_t index, const char *name, const uint8_t **data,
                  size_t *len);
bool mr_state_has(mr_ctx *ctx, uint32_t index, const char *name);
void mr_state_set(mr_ctx *ctx, uint32_t index, const char *name, const void *data, size_t len);
void mr_state_clear(mr_ctx *ctx, uint32_t index, const char *name);
/* A cell holding JSON text: NULL when empty (or not JSON). */
const mr_json *mr_state_get_json(mr_ctx *ctx, uint32_t index, const char *name);
mr_status mr_state_set_json(mr_ctx *ctx, uint32_t index, const char *name, const mr_json *value);
/* A cell holding a postcard i64, as a Rust plugin's `set_state(name, &i64)` writes. */
bool mr_state_get_i64(mr_ctx *ctx, uint32_t index, const char *name, int64_t *out);
void mr_state_set_i64(mr_ctx *ctx, uint32_t index, const char *name, int64_t value);

/* Sets (or moves) the timer `name` of the key and window of element `index`:
 * on_timer is called once the watermark (event time) or the processing clock
 * passes `time`. */
void mr_timer_set_event(mr_ctx *ctx, uint32_t index, const char *name, int64_t time);
void mr_timer_set_processing(mr_ctx *ctx, uint32_t index, const char *name, int64_t time);
void mr_timer_clear(mr_ctx *ctx, uint32_t index, const char *name);

/* -- Emitting (DoFns) ------------------------------------------------------------- */

/* Where a DoFn's outputs go. Each output takes its input's window. */
typedef struct mr_emitter mr_emitter;

/* value with the current element's key and event time, to the main output. */
mr_status mr_emit(mr_emitter *out, const mr_json *value);
/* value under `key` (NULL: the element's key), at the element's time. */
mr_status mr_emit_keyed(mr_emitter *out, const mr_json *key, const mr_json *value);
/* value under `key` (NULL: the element's key) at event time `timestamp`. */
mr_status mr_emit_at(mr_emitter *out, const mr_json *key, const mr_json *value,
                     int64_t timestamp);
/* value to the side output `output` (one the step declares with `outputs: [...]`;
 * "" is the main output), with the element's key and time. */
mr_status mr_emit_to(mr_emitter *out, const char *output, const mr_json *value);
/* All of it: side output (NULL or "": main), key (NULL: the element's), time. */
mr_status mr_emit_to_at(mr_emitter *out, const char *output, const mr_json *key,
                        const mr_json *value, int64_t timestamp);
/* A value given as JSON text (not checked: it must be valid JSON), with the
 * element's key and time: the cheap way to pass a value through. */
mr_status mr_emit_json_text(mr_emitter *out, const char *json, size_t len);

/* The bulk path (process_batch): outputs after this call are for element `index`
 * of the batch (its key, time and window). */
void mr_emitter_select(mr_emitter *out, uint32_t index);
/* The bulk path: dead-letters element `index` with the message; what it emitted and
 * its state and timer writes are taken back. */
void mr_reject(mr_emitter *out, uint32_t index, const char *fmt, ...) MR_PRINTF(3, 4);
/* How many outputs so far. */
size_t mr_emitter_len(const mr_emitter *out);

/* -- Host: log and metrics --------------------------------------------------------- */

typedef enum { MR_TRACE, MR_DEBUG, MR_INFO, MR_WARN, MR_LOG_ERROR } mr_level;

void mr_log(mr_level level, const char *fmt, ...) MR_PRINTF(2, 3);
/* Counters and gauges are summed (last value kept) during a call and reach the host
 * once per name at its end. */
void mr_counter_add(const char *name, uint64_t delta);
void mr_gauge_set(const char *name, double value);

/* -- Codecs: the bytes of accumulators and states ------------------------------- */

/* Turns a fixed-size C value into bytes and back. `format` names the encoding; for
 * a CombineFn the host sees "<format>/<accumulator_format>" and refuses to hot-swap
 * in a version whose format differs. */
typedef struct {
    const char *format;
    size_t size; /* sizeof the C value */
    mr_status (*encode)(mr_ctx *ctx, const void *value, mr_buf *out);
    mr_status (*decode)(mr_ctx *ctx, const uint8_t *data, size_t len, void *value);
} mr_codec;

/* Postcard, the Rust SDK's bytes (a Rust plugin's accumulator or state of that
 * type): int64_t, uint64_t, double, bool. */
extern const mr_codec MR_POSTCARD_I64;
extern const mr_codec MR_POSTCARD_U64;
extern const mr_codec MR_POSTCARD_F64;
extern const mr_codec MR_POSTCARD_BOOL;

/* Postcard pieces, to write a codec of a struct field by field (as Rust's postcard
 * lays out a struct: its fields in order, nothing between them). */
void mr_postcard_u64(mr_buf *out, uint64_t v);
void mr_postcard_i64(mr_buf *out, int64_t v);
void mr_postcard_f64(mr_buf *out, double v);
void mr_postcard_bool(mr_buf *out, bool v);
void mr_postcard_str(mr_buf *out, const char *s, size_t len);

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t at;
    bool failed; /* set by a read past the end or of a malformed value */
} mr_reader;

mr_reader mr_reader_of(const uint8_t *data, size_t len);
uint64_t mr_read_u64(mr_reader *r);
int64_t mr_read_i64(mr_reader *r);
double mr_read_f64(mr_reader *r);
bool mr_read_bool(mr_reader *r);
/* Whether all bytes were read without failure. */
bool mr_reader_done(const mr_reader *r);

#if defined(__SIZEOF_INT128__)
void mr_postcard_i128(mr_buf *out, __int128 v);
__int128 mr_read_i128(mr_reader *r);
#endif

/* -- The four kinds ----------------------------------------------------------------- */

/* A DoFn (`pardo` steps): turns each element into zero or more elements. */
typedef struct {
    /* Builds the function from the step's configuration (a JSON object); an error
     * refuses the spec. Optional. */
    mr_status (*init)(mr_ctx *ctx, const mr_json *config);
    /* Handles one element; an error dead-letters it. */
    mr_status (*process)(mr_ctx *ctx, const mr_element *element, mr_emitter *out);
    /* The bulk path, instead of process: a whole batch at once. Select the element
     * before emitting for it (mr_emitter_select) and refuse elements with
     * mr_reject. If it returns an error, everything is taken back and each element
     * runs again in a batch of its own (through process_batch, or process if set). */
    mr_status (*process_batch)(mr_ctx *ctx, const mr_element *elements, size_t count,
                               mr_emitter *out);
    /* Handles a timer this function set; outputs take the timer's key, window and
     * time unless given. Optional. */
    mr_status (*on_timer)(mr_ctx *ctx, const mr_timer *timer, mr_emitter *out);
} mr_dofn;

/* How a CombineFn takes a retracted input back out of an accumulator. */
typedef enum {
    MR_INVERSION_NONE,     /* it cannot: the host keeps inputs and recomputes */
    MR_INVERSION_SUBTRACT, /* uncombine subtracts any input (sums, counts) */
    MR_INVERSION_REMOVE    /* uncombine removes an input the accumulator holds */
} mr_inversion;

/* A CombineFn (`combine` steps). The accumulator is a C value of
 * `accumulator_size` bytes (or the codec's size) that the SDK allocates. */
typedef struct {
    /* Names the accumulator's shape: change it when the shape changes. The host
     * sees "<codec format>/<accumulator_format>" (default "1"). */
    const char *accumulator_format;
    /* How the accumulator becomes bytes; NULL: its bytes as they lie in memory
     * (format "c-struct/<size>"; only for structs without pointers). */
    const mr_codec *accumulator_codec;
    size_t accumulator_size; /* when there is no codec */
    mr_inversion inversion;
    mr_status (*init)(mr_ctx *ctx, const mr_json *config); /* optional */
    /* A fresh accumulator (it arrives zeroed; NULL leaves it so). */
    void (*create_accumulator)(void *acc);
    /* Adds one input. On error the SDK puts the accumulator back as it was (a copy
     * of its bytes) and dead-letters the input. */
    mr_status (*add_input)(mr_ctx *ctx, void *acc, const mr_json *input);
    /* The bulk path, optional: a group's inputs at once. If it fails, the group
     * starts again from its stored accumulator, input by input with add_input. */
    mr_status (*add_inputs)(mr_ctx *ctx, void *acc, const mr_json *const *inputs, size_t count);
    /* Merges `other` into acc (merging windows). An error fails the call. */
    mr_status (*merge_accumulators)(mr_ctx *ctx, void *acc, const void *other);
    /* The pane's value. */
    mr_status (*extract_output)(mr_ctx *ctx, const void *acc, const mr_json **output);
    /* Takes a retracted input back (when inversion is not NONE); errors as add_input. */
    mr_status (*uncombine)(mr_ctx *ctx, void *acc, const mr_json *input);
} mr_combine_fn;

/* What assign and merge fill in. */
typedef struct mr_windows mr_windows;
typedef struct mr_merges mr_merges;
/* Assigns the element to the window [start, end). */
void mr_windows_add(mr_windows *out, mr_window window);
/* The windows `members` (indexes into merge's `windows`) become `result`. */
mr_status mr_merges_add(mr_merges *out, const size_t *members, size_t count, mr_window result);

/* A custom window function (`window: {custom: ...}`). */
typedef struct {
    bool merging; /* whether windows can merge; if so merge is called */
    mr_status (*init)(mr_ctx *ctx, const mr_json *config); /* optional */
    /* The windows of one element (none, one or several); an error fails the call. */
    mr_status (*assign)(mr_ctx *ctx, const mr_element *element, mr_windows *out);
    /* Which of one key's windows merge. */
    mr_status (*merge)(mr_ctx *ctx, const mr_window *windows, size_t count, mr_merges *out);
} mr_window_fn;

/* A data-driven trigger. Its state per window is a C value of the codec's size
 * (or state_size bytes, kept as they are); it lives as long as the window, across
 * firings. */
typedef struct {
    const mr_codec *state_codec;
    size_t state_size; /* when there is no codec */
    mr_status (*init)(mr_ctx *ctx, const mr_json *config); /* optional */
    /* The state of a window that has seen nothing (it arrives zeroed). */
    void (*initial_state)(void *state);
    /* New elements arrived in window's pane: set *fire to fire now. An error fails
     * the call. */
    mr_status (*on_elements)(mr_ctx *ctx, void *state, mr_window window,
                             const mr_element *elements, size_t count, bool *fire);
} mr_trigger;

/* -- Exporting ---------------------------------------------------------------------- */

typedef enum { MR_KIND_DOFN, MR_KIND_COMBINE, MR_KIND_WINDOW, MR_KIND_TRIGGER } mr_kind;

typedef struct {
    mr_kind kind;
    mr_dofn dofn;
    mr_combine_fn combine;
    mr_window_fn window;
    mr_trigger trigger;
} mr_plugin;

/* The plugin of this component (one per component). */
extern const mr_plugin millrace_plugin;

#define MILLRACE_DOFN(...) const mr_plugin millrace_plugin = {.kind = MR_KIND_DOFN, .dofn = {__VA_ARGS__}}
#define MILLRACE_COMBINE(...) \
    const mr_plugin millrace_plugin = {.kind = MR_KIND_COMBINE, .combine = {__VA_ARGS__}}
#define MILLRACE_WINDOW(...) \
    const mr_plugin millrace_plugin = {.kind = MR_KIND_WINDOW, .window = {__VA_ARGS__}}
#define MILLRACE_TRIGGER(...) \
    const mr_plugin millrace_plugin = {.kind = MR_KIND_TRIGGER, .trigger = {__VA_ARGS__}}

#ifdef __cplusplus
}
#endif

#endif /* MILLRACE_H */
