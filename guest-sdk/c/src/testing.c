/* The native test harness: a fake host in memory (state, timers, metrics, config)
 * behind the same runners a component uses. See millrace_testing.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "millrace_testing.h"

/* -- The fake host ------------------------------------------------------------------------ */

typedef struct {
    char *key; /* JSON text */
    mr_window window;
    char *name;
    uint8_t *data;
    size_t len;
} cell_t;

typedef struct {
    char *key;
    mr_window window;
    char *name;
    bool event; /* else processing time */
    int64_t time;
} timer_t_;

typedef struct {
    char *name;
    bool gauge;
    uint64_t count;
    double value;
} metric_t;

static cell_t *cells;
static size_t cells_len, cells_cap;
static timer_t_ *timers;
static size_t timers_len, timers_cap;
static metric_t *metrics_;
static size_t metrics_len_, metrics_cap_;
static char *config_text;
static char *last_error;

/* The current call's items: index -> (key, window). */
static char **slot_keys;
static mr_window *slot_windows;
static size_t slots;

static char *dup_n(const char *s, size_t len) { return mr_strdup_n(s, len); }
static char *dup(const char *s) { return mr_strdup_n(s, strlen(s)); }

/* What the harness hands back lives until the program ends: kept here, so that a
 * leak checker (-fsanitize=address) sees it as reachable and reports real leaks. */
static void **kept_;
static size_t kept_len, kept_cap;

static void *keep(void *p) {
    if (kept_len == kept_cap) {
        kept_cap = kept_cap ? kept_cap * 2 : 64;
        kept_ = mr_xrealloc(kept_, kept_cap * sizeof *kept_);
    }
    kept_[kept_len++] = p;
    return p;
}

static bool same_slot(const char *key, mr_window w, size_t index) {
    return index < slots && !strcmp(key, slot_keys[index]) && w.start == slot_windows[index].start &&
           w.end == slot_windows[index].end;
}

static cell_t *find_cell(uint32_t index, const char *name, size_t len) {
    for (size_t i = 0; i < cells_len; i++) {
        cell_t *c = &cells[i];
        if (strlen(c->name) == len && !memcmp(c->name, name, len) && same_slot(c->key, c->window, index)) {
            return c;
        }
    }
    return NULL;
}

static timer_t_ *find_timer(uint32_t index, const char *name, size_t len) {
    for (size_t i = 0; i < timers_len; i++) {
        timer_t_ *t = &timers[i];
        if (strlen(t->name) == len && !memcmp(t->name, name, len) && same_slot(t->key, t->window, index)) {
            return t;
        }
    }
    return NULL;
}

static void fake_log(mr_level level, const char *message, size_t len) {
    static const char *names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
    fprintf(stderr, "[%s] %.*s\n", names[level <= MR_LOG_ERROR ? level : 0], (int)len, message);
}

static metric_t *fake_metric(const char *name, size_t len, bool gauge) {
    for (size_t i = 0; i < metrics_len_; i++) {
        if (metrics_[i].gauge == gauge && strlen(metrics_[i].name) == len && !memcmp(metrics_[i].name, name, len)) {
            return &metrics_[i];
        }
    }
    if (metrics_len_ == metrics_cap_) {
        metrics_cap_ = metrics_cap_ ? metrics_cap_ * 2 : 8;
        metrics_ = mr_xrealloc(metrics_, metrics_cap_ * sizeof *metrics_);
    }
    metric_t *m = &metrics_[metrics_len_++];
    m->name = dup_n(name, len);
    m->gauge = gauge;
    m->count = 0;
    m->value = 0;
    return m;
}

static void fake_counter_add(const char *name, size_t len, uint64_t delta) {
    fake_metric(name, len, false)->count += delta;
}

static void fake_gauge_set(const char *name, size_t len, double value) {
    fake_metric(name, len, true)->value = value;
}

static char *fake_config(size_t *len) {
    const char *text = config_text ? config_text : "{}";
    *len = strlen(text);
    return dup(text);
}

static bool fake_state_get(uint32_t index, const char *name, size_t name_len, const uint8_t **data,
                           size_t *len) {
    cell_t *c = find_cell(index, name, name_len);
    if (!c) return false;
    uint8_t *copy = NULL;
    if (c->len) {
        copy = mr_xmalloc(c->len);
        memcpy(copy, c->data, c->len);
    }
    *data = copy;
    *len = c->len;
    return true;
}

static void need_slot(uint32_t index) {
    if (index >= slots) {
        fprintf(stderr, "millrace testing: state of element %u, in a call of %zu\n", index, slots);
        abort();
    }
}

static void fake_state_set(uint32_t index, const char *name, size_t name_len, const uint8_t *data,
                           size_t len) {
    need_slot(index);
    cell_t *c = find_cell(index, name, name_len);
    if (!c) {
        if (cells_len == cells_cap) {
            cells_cap = cells_cap ? cells_cap * 2 : 16;
            cells = mr_xrealloc(cells, cells_cap * sizeof *cells);
        }
        c = &cells[cells_len++];
        c->key = dup(slot_keys[index]);
        c->window = slot_windows[index];
        c->name = dup_n(name, name_len);
        c->data = NULL;
    }
    free(c->data);
    c->data = mr_xmalloc(len ? len : 1);
    if (len) memcpy(c->data, data, len);
    c->len = len;
}

static void fake_state_clear(uint32_t index, const char *name, size_t name_len) {
    need_slot(index);
    cell_t *c = find_cell(index, name, name_len);
    if (!c) return;
    free(c->key);
    free(c->name);
    free(c->data);
    *c = cells[--cells_len];
}

static void fake_timer_set(uint32_t index, const char *name, size_t name_len, int64_t time, bool event) {
    need_slot(index);
    timer_t_ *t = find_timer(index, name, name_len);
    if (!t) {
        if (timers_len == timers_cap) {
            timers_cap = timers_cap ? timers_cap * 2 : 16;
            timers = mr_xrealloc(timers, timers_cap * sizeof *timers);
        }
        t = &timers[timers_len++];
        t->key = dup(slot_keys[index]);
        t->window = slot_windows[index];
        t->name = dup_n(name, name_len);
    }
    t->event = event;
    t->time = time;
}

static void fake_timer_event(uint32_t index, const char *name, size_t name_len, int64_t time) {
    fake_timer_set(index, name, name_len, time, true);
}

static void fake_timer_processing(uint32_t index, const char *name, size_t name_len, int64_t time) {
    fake_timer_set(index, name, name_len, time, false);
}

static void fake_timer_clear(uint32_t index, const char *name, size_t name_len) {
    need_slot(index);
    timer_t_ *t = find_timer(index, name, name_len);
    if (!t) return;
    free(t->key);
    free(t->name);
    *t = timers[--timers_len];
}

static const mr_host fake_host = {
    fake_log,         fake_counter_add, fake_gauge_set,   fake_config,           fake_state_get,
    fake_state_set,   fake_state_clear, fake_timer_event, fake_timer_processing, fake_timer_clear,
};

/* -- Starting ------------------------------------------------------------------------------ */

typedef struct {
    mr_window window;
    uint8_t *state;
    size_t len;
} window_state_t;

static window_state_t *window_states;
static size_t window_states_len;

static void forget_all(void) {
    for (size_t i = 0; i < window_states_len; i++) free(window_states[i].state);
    window_states_len = 0;
    for (size_t i = 0; i < cells_len; i++) {
        free(cells[i].key);
        free(cells[i].name);
        free(cells[i].data);
    }
    cells_len = 0;
    for (size_t i = 0; i < timers_len; i++) {
        free(timers[i].key);
        free(timers[i].name);
    }
    timers_len = 0;
    for (size_t i = 0; i < metrics_len_; i++) free(metrics_[i].name);
    metrics_len_ = 0;
}

static void set_error(char *message) {
    free(last_error);
    last_error = message;
}

const char *mr_test_error_message(void) { return last_error; }

static bool started;

bool mr_test_start(const char *config) {
    forget_all();
    free(config_text);
    config_text = config ? dup(config) : NULL;
    mr_current_host = &fake_host;
    set_error(NULL);
    char *message = NULL;
    started = mr_run_init(&message) == MR_OK;
    if (!started) set_error(message);
    return started;
}

static void need_start(void) {
    if (!mr_current_host) {
        fprintf(stderr, "millrace testing: call mr_test_start first\n");
        abort();
    }
}

/* -- Columns ---------------------------------------------------------------------------- */

/* The compact text of a JSON text, as the host would send it. */
static char *normalized(const char *json) {
    mr_arena arena = {0};
    const mr_json *v;
    char *message;
    if (mr_json_parse_quiet(&arena, json, strlen(json), &v, &message)) {
        char *copy = dup(json); /* not JSON: send it as it is */
        mr_arena_reset(&arena);
        free(arena.head);
        return copy;
    }
    mr_buf buf = {0};
    mr_json_write_to(&buf, v);
    char *text = dup_n((const char *)buf.data, buf.len);
    mr_buf_free(&buf);
    mr_arena_reset(&arena);
    free(arena.head);
    return text;
}

typedef struct {
    mr_blobs keys, values;
    mr_i64s timestamps, starts, ends;
    mr_elements_in in;
} columns_t;

static mr_window window_of(mr_window w) {
    return w.start == 0 && w.end == 0 ? MR_GLOBAL_WINDOW : w;
}

static void build_columns(columns_t *c, const mr_test_element *elements, size_t count, bool set_slots) {
    memset(c, 0, sizeof *c);
    if (set_slots) {
        for (size_t i = 0; i < slots; i++) free(slot_keys[i]);
        free(slot_keys);
        free(slot_windows);
        slot_keys = mr_xmalloc((count ? count : 1) * sizeof *slot_keys);
        slot_windows = mr_xmalloc((count ? count : 1) * sizeof *slot_windows);
        slots = count;
    }
    for (size_t i = 0; i < count; i++) {
        char *key = normalized(elements[i].key ? elements[i].key : "null");
        char *value = normalized(elements[i].value ? elements[i].value : "null");
        mr_window w = window_of(elements[i].window);
        mr_blobs_push(&c->keys, key, strlen(key));
        mr_blobs_push(&c->values, value, strlen(value));
        mr_i64s_push(&c->timestamps, elements[i].timestamp);
        mr_i64s_push(&c->starts, w.start);
        mr_i64s_push(&c->ends, w.end);
        if (set_slots) {
            slot_keys[i] = key;
            slot_windows[i] = w;
        } else {
            free(key);
        }
        free(value);
    }
    c->in = (mr_elements_in){
        {c->keys.bytes.data, c->keys.bytes.len, c->keys.ends.data, c->keys.ends.len},
        {c->values.bytes.data, c->values.bytes.len, c->values.ends.data, c->values.ends.len},
        c->timestamps.data, c->starts.data, c->ends.data, count,
    };
}

static void free_columns(columns_t *c) {
    mr_buf_free(&c->keys.bytes);
    free(c->keys.ends.data);
    mr_buf_free(&c->values.bytes);
    free(c->values.ends.data);
    free(c->timestamps.data);
    free(c->starts.data);
    free(c->ends.data);
}

static const char *item_text(const mr_blobs *b, size_t i) {
    size_t start = i ? b->ends.data[i - 1] : 0;
    return keep(dup_n((const char *)b->bytes.data + start, b->ends.data[i] - start));
}

/* Appends a DoFn call's output to `into`. */
static void read_output(mr_dofn_output *o, mr_test_output *into) {
    size_t n = o->timestamps.len;
    into->records = keep(mr_xrealloc(into->records, (into->count + n + 1) * sizeof *into->records));
    for (size_t i = 0; i < n; i++) {
        mr_test_record *r = &into->records[into->count++];
        r->key = item_text(&o->keys, i);
        r->value = item_text(&o->values, i);
        r->timestamp = o->timestamps.data[i];
        r->source = o->sources.data[i];
        r->output = o->tags.ends.len == n ? item_text(&o->tags, i) : "";
    }
    into->errors = keep(mr_xrealloc(into->errors, (into->error_count + o->errors_len + 1) * sizeof *into->errors));
    for (size_t i = 0; i < o->errors_len; i++) {
        into->errors[into->error_count++] = (mr_test_error){o->error_indexes.data[i], keep(dup(o->error_messages[i]))};
    }
    mr_dofn_output_free(o);
}

/* -- DoFn ---------------------------------------------------------------------------------- */

mr_test_output mr_test_process(const mr_test_element *elements, size_t count) {
    need_start();
    mr_test_output result = {0};
    columns_t c;
    build_columns(&c, elements, count, true);
    mr_dofn_output out = {0};
    char *message = NULL;
    mr_run_process(&c.in, &out, &message);
    read_output(&out, &result);
    free_columns(&c);
    return result;
}

static int by_time(const void *a, const void *b) {
    const timer_t_ *x = a, *y = b;
    return x->time < y->time ? -1 : x->time > y->time;
}

static mr_test_output fire(bool event, int64_t bound) {
    need_start();
    mr_test_output result = {0};
    for (int round = 0; round < 1000; round++) {
        /* Take the due timers out, in time order. */
        timer_t_ *due = NULL;
        size_t n = 0;
        for (size_t i = 0; i < timers_len;) {
            if (timers[i].event == event && timers[i].time < bound) {
                due = mr_xrealloc(due, (n + 1) * sizeof *due);
                due[n++] = timers[i];
                timers[i] = timers[--timers_len];
            } else {
                i++;
            }
        }
        if (!n) break;
        qsort(due, n, sizeof *due, by_time);
        for (size_t i = 0; i < slots; i++) free(slot_keys[i]);
        free(slot_keys);
        free(slot_windows);
        slot_keys = mr_xmalloc(n * sizeof *slot_keys);
        slot_windows = mr_xmalloc(n * sizeof *slot_windows);
        slots = n;
        mr_blobs keys = {0};
        mr_i64s starts = {0}, ends = {0}, times = {0};
        const char **names = mr_xmalloc(n * sizeof *names);
        size_t *name_lens = mr_xmalloc(n * sizeof *name_lens);
        for (size_t i = 0; i < n; i++) {
            mr_blobs_push(&keys, due[i].key, strlen(due[i].key));
            mr_i64s_push(&starts, due[i].window.start);
            mr_i64s_push(&ends, due[i].window.end);
            mr_i64s_push(&times, due[i].time);
            names[i] = due[i].name;
            name_lens[i] = strlen(due[i].name);
            slot_keys[i] = due[i].key;
            slot_windows[i] = due[i].window;
        }
        mr_timers_in in = {
            {keys.bytes.data, keys.bytes.len, keys.ends.data, keys.ends.len},
            starts.data, ends.data, names, name_lens, times.data, n,
        };
        mr_dofn_output out = {0};
        char *message = NULL;
        mr_run_on_timer(&in, &out, &message);
        read_output(&out, &result);
        for (size_t i = 0; i < n; i++) free(due[i].name);
        free(due);
        free(names);
        free(name_lens);
        mr_buf_free(&keys.bytes);
        free(keys.ends.data);
        free(starts.data);
        free(ends.data);
        free(times.data);
    }
    return result;
}

mr_test_output mr_test_advance_watermark(int64_t watermark) { return fire(true, watermark); }
mr_test_output mr_test_advance_processing_time(int64_t now) { return fire(false, now); }

const uint8_t *mr_test_state(const char *key, mr_window window, const char *name, size_t *len) {
    char *k = normalized(key ? key : "null");
    mr_window w = window_of(window);
    const uint8_t *found = NULL;
    for (size_t i = 0; i < cells_len; i++) {
        cell_t *c = &cells[i];
        if (!strcmp(c->key, k) && !strcmp(c->name, name) && c->window.start == w.start && c->window.end == w.end) {
            found = c->data;
            if (len) *len = c->len;
            break;
        }
    }
    free(k);
    return found;
}

size_t mr_test_state_cells(void) { return cells_len; }
size_t mr_test_timers(void) { return timers_len; }

uint64_t mr_test_counter(const char *name) {
    for (size_t i = 0; i < metrics_len_; i++) {
        if (!metrics_[i].gauge && !strcmp(metrics_[i].name, name)) return metrics_[i].count;
    }
    return 0;
}

double mr_test_gauge(const char *name) {
    for (size_t i = 0; i < metrics_len_; i++) {
        if (metrics_[i].gauge && !strcmp(metrics_[i].name, name)) return metrics_[i].value;
    }
    return 0;
}

/* -- CombineFn ---------------------------------------------------------------------------- */

static mr_test_bytes take_bytes(mr_buf *b) {
    mr_test_bytes bytes = {keep(b->data ? b->data : (uint8_t *)mr_xmalloc(1)), b->len};
    return bytes;
}

mr_test_bytes mr_test_create(void) {
    need_start();
    mr_buf out = {0};
    mr_run_create_accumulator(&out);
    return take_bytes(&out);
}

mr_test_bytes mr_test_add(mr_test_bytes acc, const char *const *inputs, size_t count, bool retract,
                          mr_test_output *rejected) {
    need_start();
    mr_blobs ins = {0};
    for (size_t i = 0; i < count; i++) {
        char *text = normalized(inputs[i]);
        mr_blobs_push(&ins, text, strlen(text));
        free(text);
    }
    uint32_t acc_end = (uint32_t)acc.len;
    uint32_t group_end = (uint32_t)count;
    mr_blobs_in accs = {acc.data, acc.len, &acc_end, 1};
    mr_blobs_in in = {ins.bytes.data, ins.bytes.len, ins.ends.data, ins.ends.len};
    mr_added added = {0};
    char *message = NULL;
    mr_test_bytes result = acc;
    if (retract && mr_combine_inversion() == MR_INVERSION_NONE) {
        set_error(dup("not invertible"));
    } else if (mr_run_add(&accs, &in, &group_end, 1, retract, &added, &message) == MR_OK) {
        uint8_t *copy = keep(mr_xmalloc(added.accumulators.bytes.len + 1));
        if (added.accumulators.bytes.len) memcpy(copy, added.accumulators.bytes.data, added.accumulators.bytes.len);
        result = (mr_test_bytes){copy, added.accumulators.bytes.len};
    } else {
        set_error(message);
    }
    if (rejected) {
        memset(rejected, 0, sizeof *rejected);
        rejected->errors = keep(mr_xmalloc((added.rejected_len + 1) * sizeof *rejected->errors));
        for (size_t i = 0; i < added.rejected_len; i++) {
            rejected->errors[i] = (mr_test_error){added.rejected_indexes.data[i], keep(dup(added.rejected_messages[i]))};
        }
        rejected->error_count = added.rejected_len;
    }
    mr_added_free(&added);
    mr_buf_free(&ins.bytes);
    free(ins.ends.data);
    return result;
}

mr_test_bytes mr_test_merge(const mr_test_bytes *accs, size_t count) {
    need_start();
    mr_blobs all = {0};
    for (size_t i = 0; i < count; i++) mr_blobs_push(&all, accs[i].data, accs[i].len);
    uint32_t group_end = (uint32_t)count;
    mr_blobs_in in = {all.bytes.data, all.bytes.len, all.ends.data, all.ends.len};
    mr_blobs out = {0};
    char *message = NULL;
    mr_test_bytes result = {(const uint8_t *)"", 0};
    if (mr_run_merge(&in, &group_end, 1, &out, &message) == MR_OK) {
        result = take_bytes(&out.bytes);
        free(out.ends.data);
    } else {
        set_error(message);
        mr_buf_free(&out.bytes);
        free(out.ends.data);
    }
    mr_buf_free(&all.bytes);
    free(all.ends.data);
    return result;
}

const char *mr_test_extract(mr_test_bytes acc) {
    need_start();
    uint32_t end = (uint32_t)acc.len;
    mr_blobs_in in = {acc.data, acc.len, &end, 1};
    mr_blobs out = {0};
    char *message = NULL;
    const char *text = NULL;
    if (mr_run_extract(&in, &out, &message) == MR_OK) {
        text = keep(dup_n((const char *)out.bytes.data, out.bytes.len));
    } else {
        set_error(message);
    }
    mr_buf_free(&out.bytes);
    free(out.ends.data);
    return text;
}

const char *mr_test_combine(const char *const *inputs, size_t count) {
    return mr_test_extract(mr_test_add(mr_test_create(), inputs, count, false, NULL));
}

const char *mr_test_accumulator_format(void) { return mr_combine_format(); }
mr_inversion mr_test_inversion(void) { return mr_combine_inversion(); }

/* -- WindowFn ------------------------------------------------------------------------------ */

mr_test_windows mr_test_assign(const mr_test_element *element) {
    need_start();
    columns_t c;
    build_columns(&c, element, 1, false);
    mr_windows_out out = {0};
    char *message = NULL;
    mr_test_windows result = {0};
    if (mr_run_assign(&c.in, &out, &message) == MR_OK) {
        result.ok = true;
        result.count = out.starts.len;
        result.windows = keep(mr_xmalloc((result.count + 1) * sizeof *result.windows));
        for (size_t i = 0; i < result.count; i++) {
            result.windows[i] = (mr_window){out.starts.data[i], out.ends.data[i]};
        }
    } else {
        set_error(message);
    }
    free(out.starts.data);
    free(out.ends.data);
    free(out.sources.data);
    free_columns(&c);
    return result;
}

mr_test_merges mr_test_merge_windows(const mr_window *windows, size_t count) {
    need_start();
    int64_t *starts = mr_xmalloc((count + 1) * sizeof *starts);
    int64_t *ends = mr_xmalloc((count + 1) * sizeof *ends);
    for (size_t i = 0; i < count; i++) {
        starts[i] = windows[i].start;
        ends[i] = windows[i].end;
    }
    uint32_t key_end = (uint32_t)count;
    mr_merges_out out = {0};
    char *message = NULL;
    mr_test_merges result = {0};
    if (mr_run_merge_windows(starts, ends, count, &key_end, 1, &out, &message) == MR_OK) {
        result.ok = true;
        result.count = out.starts.len;
        result.merges = keep(mr_xmalloc((result.count + 1) * sizeof *result.merges));
        size_t from = 0;
        for (size_t m = 0; m < result.count; m++) {
            size_t to = out.member_ends.data[m];
            size_t *members = keep(mr_xmalloc((to - from + 1) * sizeof *members));
            for (size_t i = from; i < to; i++) members[i - from] = out.members.data[i];
            result.merges[m] = (mr_test_window_merge){{out.starts.data[m], out.ends.data[m]}, to - from, members};
            from = to;
        }
    } else {
        set_error(message);
    }
    free(out.starts.data);
    free(out.ends.data);
    free(out.members.data);
    free(out.member_ends.data);
    free(starts);
    free(ends);
    return result;
}

/* -- Trigger ------------------------------------------------------------------------------- */

bool mr_test_on_elements(mr_window window, const char *const *values, size_t count) {
    need_start();
    mr_window w = window_of(window);
    window_state_t *ws = NULL;
    for (size_t i = 0; i < window_states_len; i++) {
        if (window_states[i].window.start == w.start && window_states[i].window.end == w.end) ws = &window_states[i];
    }
    if (!ws) {
        window_states = mr_xrealloc(window_states, (window_states_len + 1) * sizeof *window_states);
        ws = &window_states[window_states_len++];
        *ws = (window_state_t){w, NULL, 0};
    }
    mr_test_element *elements = mr_xmalloc((count + 1) * sizeof *elements);
    for (size_t i = 0; i < count; i++) elements[i] = (mr_test_element){values[i], NULL, 0, w};
    columns_t c;
    build_columns(&c, elements, count, false);
    uint32_t state_end = (uint32_t)ws->len;
    mr_blobs_in states = {ws->state ? ws->state : (const uint8_t *)"", ws->len, &state_end, 1};
    uint32_t element_end = (uint32_t)count;
    mr_blobs out = {0};
    bool *fire_ = NULL;
    char *message = NULL;
    bool fires = false;
    if (mr_run_on_elements(&states, &c.in, &element_end, 1, &out, &fire_, &message) == MR_OK) {
        fires = fire_[0];
        free(ws->state);
        ws->state = out.bytes.data;
        ws->len = out.bytes.len;
        out.bytes.data = NULL;
        free(fire_);
    } else {
        set_error(message);
    }
    mr_buf_free(&out.bytes);
    free(out.ends.data);
    free_columns(&c);
    free(elements);
    return fires;
}

const uint8_t *mr_test_trigger_state(mr_window window, size_t *len) {
    mr_window w = window_of(window);
    for (size_t i = 0; i < window_states_len; i++) {
        if (window_states[i].window.start == w.start && window_states[i].window.end == w.end) {
            if (len) *len = window_states[i].len;
            return window_states[i].state ? window_states[i].state : (const uint8_t *)"";
        }
    }
    return NULL;
}

/* -- Checks ------------------------------------------------------------------------------ */

static int passed, failed, failures_in_test;

void mr_check_at(const char *file, int line, int ok, const char *what) {
    if (ok) return;
    failures_in_test++;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
}

void mr_check_int_at(const char *file, int line, long long actual, long long expected, const char *what) {
    if (actual == expected) return;
    failures_in_test++;
    fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", file, line, what, actual, expected);
}

void mr_check_str_at(const char *file, int line, const char *actual, const char *expected,
                     const char *what) {
    if (actual && expected && !strcmp(actual, expected)) return;
    if (!actual && !expected) return;
    failures_in_test++;
    fprintf(stderr, "%s:%d: %s is %s%s%s, expected %s%s%s\n", file, line, what, actual ? "'" : "",
            actual ? actual : "NULL", actual ? "'" : "", expected ? "'" : "", expected ? expected : "NULL",
            expected ? "'" : "");
}

void mr_test_run(const char *name, void (*fn)(void)) {
    failures_in_test = 0;
    fn();
    if (failures_in_test) {
        failed++;
        printf("FAIL %s\n", name);
    } else {
        passed++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

int mr_test_report(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
