/*
 * millrace_testing.h — run a C plugin natively (no WebAssembly), through the same
 * batch code its component runs, with the host's bookkeeping in memory: a DoFn's
 * keyed state and timers, counters and gauges, a trigger's state per window. And a
 * few checks for a test program:
 *
 *     #include "millrace_testing.h"
 *
 *     static void sums_and_takes_back(void) {
 *         MR_CHECK(mr_test_start(NULL));
 *         const char *inputs[] = {"5", "7", "\"x\""};
 *         mr_test_output rejected;
 *         mr_test_bytes total = mr_test_add(mr_test_create(), inputs, 3, false, &rejected);
 *         MR_CHECK_STR(rejected.errors[0].message, "expected an integer");
 *         MR_CHECK_STR(mr_test_extract(total), "12");
 *     }
 *
 *     int main(void) {
 *         MR_TEST(sums_and_takes_back);
 *         return mr_test_report();
 *     }
 *
 * Build it with the plugin and the SDK (guest-sdk/c/test.sh does, for every folder of
 * plugins/c/; a scaffold's Makefile does too):
 *     cc -Iguest-sdk/c/include plugin.c test_plugin.c guest-sdk/c/src/{core,json,config,postcard,run,testing}.c
 *
 * JSON in and out is text: values are given as JSON text and come back as the
 * compact JSON text the plugin emitted. What the functions return lives until the
 * program ends.
 */
#ifndef MILLRACE_TESTING_H
#define MILLRACE_TESTING_H

#include "millrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An element to hand the plugin. */
typedef struct {
    const char *value; /* JSON text */
    const char *key;   /* JSON text; NULL: null */
    int64_t timestamp;
    mr_window window; /* {0, 0}: the global window */
} mr_test_element;

/* An element a DoFn emitted. */
typedef struct {
    const char *key;   /* JSON text */
    const char *value; /* JSON text */
    int64_t timestamp;
    uint32_t source;    /* the input (or fired timer) it came from */
    const char *output; /* the side output; "" for the main one */
} mr_test_record;

typedef struct {
    uint32_t index;
    const char *message;
} mr_test_error;

/* What a call gave back: records emitted, and inputs dead-lettered (or rejected). */
typedef struct {
    size_t count;
    mr_test_record *records;
    size_t error_count;
    mr_test_error *errors;
} mr_test_output;

/* Starts the plugin this program links with a configuration (JSON text; NULL: {}),
 * forgetting all state of an earlier start. False if its init refused it:
 * mr_test_error_message() says why. */
bool mr_test_start(const char *config);
/* The message of the last init or call that failed as a whole (NULL if none). */
const char *mr_test_error_message(void);

/* -- DoFn -- */
mr_test_output mr_test_process(const mr_test_element *elements, size_t count);
/* Fires the event-time timers before `watermark` (round after round, as the host
 * does: timers that on_timer sets before it fire too). */
mr_test_output mr_test_advance_watermark(int64_t watermark);
/* Fires the processing-time timers before `now`. */
mr_test_output mr_test_advance_processing_time(int64_t now);
/* A state cell of a key (JSON text) and window, or NULL. */
const uint8_t *mr_test_state(const char *key, mr_window window, const char *name, size_t *len);
/* How many cells and timers are held. */
size_t mr_test_state_cells(void);
size_t mr_test_timers(void);
/* Counters and gauges the plugin reported so far. */
uint64_t mr_test_counter(const char *name);
double mr_test_gauge(const char *name);

/* -- CombineFn: accumulators are their bytes, as the host keeps them -- */
typedef struct {
    const uint8_t *data;
    size_t len;
} mr_test_bytes;

mr_test_bytes mr_test_create(void);
/* Adds (or, with retract, takes back) inputs (JSON texts); the inputs refused are in
 * rejected->errors when rejected is not NULL. */
mr_test_bytes mr_test_add(mr_test_bytes acc, const char *const *inputs, size_t count, bool retract,
                          mr_test_output *rejected);
mr_test_bytes mr_test_merge(const mr_test_bytes *accs, size_t count);
/* The output (JSON text), or NULL if the call failed. */
const char *mr_test_extract(mr_test_bytes acc);
/* create, add all, extract. */
const char *mr_test_combine(const char *const *inputs, size_t count);
/* The accumulator format and inversion the host sees. */
const char *mr_test_accumulator_format(void);
mr_inversion mr_test_inversion(void);

/* -- WindowFn -- */
typedef struct {
    bool ok; /* false if the call failed (mr_test_error_message says why) */
    size_t count;
    mr_window *windows;
} mr_test_windows;
/* The windows of one element. */
mr_test_windows mr_test_assign(const mr_test_element *element);

typedef struct {
    mr_window window;      /* what the members become */
    size_t count;          /* how many members */
    const size_t *members; /* indexes into the windows given */
} mr_test_window_merge;
typedef struct {
    bool ok;
    size_t count;
    mr_test_window_merge *merges;
} mr_test_merges;
/* Which of one key's windows merge. */
mr_test_merges mr_test_merge_windows(const mr_window *windows, size_t count);

/* -- Trigger -- */
/* New elements (values as JSON texts) arrive in window's pane; whether it fires.
 * The state is kept per window across calls. */
bool mr_test_on_elements(mr_window window, const char *const *values, size_t count);
/* The state bytes kept for a window (NULL before its first elements). */
const uint8_t *mr_test_trigger_state(mr_window window, size_t *len);

/* -- Checks -- */
#define MR_CHECK(cond) mr_check_at(__FILE__, __LINE__, (cond) ? 1 : 0, #cond)
#define MR_CHECK_INT(actual, expected) \
    mr_check_int_at(__FILE__, __LINE__, (long long)(actual), (long long)(expected), #actual)
#define MR_CHECK_STR(actual, expected) \
    mr_check_str_at(__FILE__, __LINE__, (actual), (expected), #actual)
/* Runs a test function, reporting "ok" or "FAIL" for it. */
#define MR_TEST(fn) mr_test_run(#fn, fn)
/* Prints "N passed, N failed"; the exit status for main (0 when all passed). */
int mr_test_report(void);

void mr_check_at(const char *file, int line, int ok, const char *what);
void mr_check_int_at(const char *file, int line, long long actual, long long expected, const char *what);
void mr_check_str_at(const char *file, int line, const char *actual, const char *expected,
                     const char *what);
void mr_test_run(const char *name, void (*fn)(void));

#ifdef __cplusplus
}
#endif

#endif
