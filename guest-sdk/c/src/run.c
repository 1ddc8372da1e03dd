/* The runners: a plugin's callbacks over the host's column-by-column batches. The
 * same code runs in a component (behind src/wasm_*.c) and natively (behind
 * src/testing.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define P (&millrace_plugin)

static const mr_json *the_config;

static char *take_message(mr_ctx *ctx, const char *fallback) {
    const char *m = ctx->error ? ctx->error : fallback;
    return mr_strdup_n(m, strlen(m));
}

/* -- Shared -------------------------------------------------------------------------- */

static const mr_json *parse_key(mr_ctx *ctx, const uint8_t *bytes, size_t len) {
    const mr_json *key;
    char *message;
    if (mr_json_parse_quiet(ctx->arena, (const char *)bytes, len, &key, &message)) {
        return mr_json_new_null(ctx);
    }
    return key;
}

/* Element i of a batch; false (with *message) if its value is not JSON. */
static bool read_element(mr_ctx *ctx, const mr_elements_in *in, size_t i, mr_element *e,
                         char **message) {
    size_t key_len, value_len;
    const uint8_t *key = mr_item(&in->keys, i, &key_len);
    const uint8_t *value = mr_item(&in->values, i, &value_len);
    e->raw_key = (const char *)key;
    e->raw_key_len = key_len;
    e->raw_value = (const char *)value;
    e->raw_value_len = value_len;
    e->key = parse_key(ctx, key, key_len);
    e->timestamp = in->timestamps[i];
    e->window.start = in->window_starts[i];
    e->window.end = in->window_ends[i];
    e->index = (uint32_t)i;
    char *why;
    if (mr_json_parse_quiet(ctx->arena, (const char *)value, value_len, &e->value, &why)) {
        e->value = NULL;
        *message = mr_printf(ctx, "cannot read the value: %s", why);
        return false;
    }
    return true;
}

mr_status mr_run_init(char **message) {
    mr_ctx *ctx = mr_init_begin();
    mr_status status = MR_OK;
    size_t len = 0;
    char *text = mr_current_host->config ? mr_current_host->config(&len) : NULL;
    const mr_json *config;
    char *why;
    if (!text || !len) {
        config = mr_json_new_object(ctx);
    } else if (mr_json_parse_quiet(ctx->arena, text, len, &config, &why)) {
        status = mr_error(ctx, "config is not JSON: %s", why);
    } else if (!mr_json_is_object(config)) {
        status = mr_error(ctx, "config must be a map, not %.*s", (int)len, text);
    }
    free(text);
    if (status == MR_OK) {
        the_config = config;
        mr_status (*init)(mr_ctx *, const mr_json *) = NULL;
        switch (P->kind) {
        case MR_KIND_DOFN:
            init = P->dofn.init;
            if (!P->dofn.process && !P->dofn.process_batch) {
                status = mr_error(ctx, "the DoFn has neither process nor process_batch");
            }
            break;
        case MR_KIND_COMBINE:
            init = P->combine.init;
            if (!P->combine.accumulator_codec && !P->combine.accumulator_size) {
                status = mr_error(ctx, "the CombineFn has neither accumulator_codec nor accumulator_size");
            } else if (!P->combine.add_input || !P->combine.extract_output) {
                status = mr_error(ctx, "the CombineFn needs add_input and extract_output");
            }
            break;
        case MR_KIND_WINDOW:
            init = P->window.init;
            if (!P->window.assign) status = mr_error(ctx, "the window function has no assign");
            break;
        case MR_KIND_TRIGGER:
            init = P->trigger.init;
            if (!P->trigger.on_elements) status = mr_error(ctx, "the trigger has no on_elements");
            break;
        }
        if (status == MR_OK && init) status = init(ctx, config);
    }
    if (status != MR_OK) *message = take_message(ctx, "init failed");
    mr_init_end();
    return status;
}

/* -- DoFn ------------------------------------------------------------------------------ */

#define NO_SOURCE UINT32_MAX

struct mr_emitter {
    mr_ctx *ctx;
    mr_dofn_output *out;
    bool any_tag;
    /* the element (or timer) outputs are for */
    uint32_t source;
    const char *key;
    size_t key_len;
    int64_t timestamp;
    /* the bulk path */
    const mr_element *batch;
    size_t batch_len;
    uint8_t *rejected;
    char **reasons;
};

typedef struct {
    size_t keys, key_ends, values, value_ends, count, tags, tag_ends;
    bool any_tag;
} mark_t;

static mark_t mark(const mr_emitter *em) {
    const mr_dofn_output *o = em->out;
    return (mark_t){o->keys.bytes.len,   o->keys.ends.len, o->values.bytes.len,
                    o->values.ends.len,  o->timestamps.len, o->tags.bytes.len,
                    o->tags.ends.len,    em->any_tag};
}

static void rollback(mr_emitter *em, mark_t m) {
    mr_dofn_output *o = em->out;
    o->keys.bytes.len = m.keys;
    o->keys.ends.len = m.key_ends;
    o->values.bytes.len = m.values;
    o->values.ends.len = m.value_ends;
    o->timestamps.len = m.count;
    o->sources.len = m.count;
    o->tags.bytes.len = m.tags;
    o->tags.ends.len = m.tag_ends;
    em->any_tag = m.any_tag;
}

static void add_error(mr_dofn_output *o, uint32_t index, const char *message) {
    if (o->errors_len == o->errors_cap) {
        o->errors_cap = o->errors_cap ? o->errors_cap * 2 : 8;
        o->error_messages = mr_xrealloc(o->error_messages, o->errors_cap * sizeof *o->error_messages);
    }
    mr_u32s_push(&o->error_indexes, index);
    o->error_messages[o->errors_len++] = mr_strdup_n(message, strlen(message));
}

void mr_dofn_output_free(mr_dofn_output *o) {
    mr_buf_free(&o->keys.bytes);
    free(o->keys.ends.data);
    mr_buf_free(&o->values.bytes);
    free(o->values.ends.data);
    free(o->timestamps.data);
    free(o->sources.data);
    mr_buf_free(&o->tags.bytes);
    free(o->tags.ends.data);
    free(o->error_indexes.data);
    for (size_t i = 0; i < o->errors_len; i++) free(o->error_messages[i]);
    free(o->error_messages);
    memset(o, 0, sizeof *o);
}

static mr_status push(mr_emitter *em, const char *tag, const mr_json *key, const mr_json *value,
                      const char *text, size_t text_len, int64_t timestamp) {
    mr_ctx *ctx = em->ctx;
    if (em->source == NO_SOURCE) {
        return mr_error(ctx, "process_batch emits for no element: call mr_emitter_select first");
    }
    mr_dofn_output *o = em->out;
    size_t values_at = o->values.bytes.len;
    if (text) {
        mr_buf_push(&o->values.bytes, text, text_len);
    } else if (!mr_json_write_to(&o->values.bytes, value)) {
        o->values.bytes.len = values_at;
        return mr_error(ctx, "a NaN or an infinity is not a JSON number");
    }
    size_t keys_at = o->keys.bytes.len;
    if (key) {
        if (!mr_json_write_to(&o->keys.bytes, key)) {
            o->values.bytes.len = values_at;
            o->keys.bytes.len = keys_at;
            return mr_error(ctx, "a NaN or an infinity is not a JSON key");
        }
    } else {
        mr_buf_push(&o->keys.bytes, em->key, em->key_len);
    }
    mr_blobs_end(&o->values);
    mr_blobs_end(&o->keys);
    mr_i64s_push(&o->timestamps, timestamp);
    mr_u32s_push(&o->sources, em->source);
    if (tag && *tag) {
        if (!em->any_tag) {
            /* the outputs so far went to the main output */
            for (size_t i = o->tags.ends.len; i + 1 < o->timestamps.len; i++) mr_blobs_end(&o->tags);
            em->any_tag = true;
        }
        mr_blobs_push(&o->tags, tag, strlen(tag));
    } else if (em->any_tag) {
        mr_blobs_end(&o->tags);
    }
    return MR_OK;
}

mr_status mr_emit(mr_emitter *out, const mr_json *value) {
    return push(out, NULL, NULL, value, NULL, 0, out->timestamp);
}
mr_status mr_emit_keyed(mr_emitter *out, const mr_json *key, const mr_json *value) {
    return push(out, NULL, key, value, NULL, 0, out->timestamp);
}
mr_status mr_emit_at(mr_emitter *out, const mr_json *key, const mr_json *value, int64_t timestamp) {
    return push(out, NULL, key, value, NULL, 0, timestamp);
}
mr_status mr_emit_to(mr_emitter *out, const char *output, const mr_json *value) {
    return push(out, output, NULL, value, NULL, 0, out->timestamp);
}
mr_status mr_emit_to_at(mr_emitter *out, const char *output, const mr_json *key,
                        const mr_json *value, int64_t timestamp) {
    return push(out, output, key, value, NULL, 0, timestamp);
}
mr_status mr_emit_json_text(mr_emitter *out, const char *json, size_t len) {
    return push(out, NULL, NULL, NULL, json, len, out->timestamp);
}

size_t mr_emitter_len(const mr_emitter *out) { return out->out->timestamps.len; }

static void select_element(mr_emitter *em, const mr_element *e) {
    em->source = e->index;
    em->key = e->raw_key;
    em->key_len = e->raw_key_len;
    em->timestamp = e->timestamp;
}

void mr_emitter_select(mr_emitter *out, uint32_t index) {
    if (!out->batch || index >= out->batch_len) {
        mr_panic("mr_emitter_select: no element %u in a batch of %zu", index, out->batch_len);
    }
    select_element(out, &out->batch[index]);
}

void mr_reject(mr_emitter *out, uint32_t index, const char *fmt, ...) {
    if (!out->batch || index >= out->batch_len) {
        mr_panic("mr_reject: no element %u in a batch of %zu", index, out->batch_len);
    }
    uint32_t source = out->batch[index].index;
    va_list args;
    va_start(args, fmt);
    out->reasons[source] = mr_vprintf(out->ctx, fmt, args);
    va_end(args);
    out->rejected[source] = 1;
}

/* Takes back the outputs of the rejected inputs emitted since m. */
static void drop_rejected(mr_emitter *em, mark_t m) {
    mr_dofn_output *o = em->out;
    size_t count = o->timestamps.len;
    mr_dofn_output kept = {0};
    bool tagged = em->any_tag && o->tags.ends.len == count;
    for (size_t i = m.count; i < count; i++) {
        if (em->rejected[o->sources.data[i]]) continue;
        size_t s = i ? o->keys.ends.data[i - 1] : 0;
        mr_blobs_push(&kept.keys, o->keys.bytes.data + s, o->keys.ends.data[i] - s);
        s = i ? o->values.ends.data[i - 1] : 0;
        mr_blobs_push(&kept.values, o->values.bytes.data + s, o->values.ends.data[i] - s);
        mr_i64s_push(&kept.timestamps, o->timestamps.data[i]);
        mr_u32s_push(&kept.sources, o->sources.data[i]);
        if (tagged) {
            s = i ? o->tags.ends.data[i - 1] : 0;
            mr_blobs_push(&kept.tags, o->tags.bytes.data + s, o->tags.ends.data[i] - s);
        }
    }
    rollback(em, m);
    em->any_tag = m.any_tag || tagged;
    for (size_t i = 0; i < kept.timestamps.len; i++) {
        size_t s = i ? kept.keys.ends.data[i - 1] : 0;
        mr_blobs_push(&o->keys, kept.keys.bytes.data + s, kept.keys.ends.data[i] - s);
        s = i ? kept.values.ends.data[i - 1] : 0;
        mr_blobs_push(&o->values, kept.values.bytes.data + s, kept.values.ends.data[i] - s);
        mr_i64s_push(&o->timestamps, kept.timestamps.data[i]);
        mr_u32s_push(&o->sources, kept.sources.data[i]);
        if (tagged) {
            s = i ? kept.tags.ends.data[i - 1] : 0;
            mr_blobs_push(&o->tags, kept.tags.bytes.data + s, kept.tags.ends.data[i] - s);
        }
    }
    if (em->any_tag && !tagged) {
        /* no tag survived; keep the column consistent */
        while (o->tags.ends.len < o->timestamps.len) mr_blobs_end(&o->tags);
    }
    mr_dofn_output_free(&kept);
}

/* One run of process_batch over `count` elements; whether it returned MR_OK. A
 * batch of one that fails is that element's error; a larger one leaves no trace. */
static bool attempt_batch(mr_ctx *ctx, mr_emitter *em, const mr_element *elements, size_t count) {
    mark_t m = mark(em);
    em->batch = elements;
    em->batch_len = count;
    em->source = NO_SOURCE;
    ctx->error = NULL;
    mr_status status = P->dofn.process_batch(ctx, elements, count, em);
    em->batch = NULL;
    em->batch_len = 0;
    if (status != MR_OK) {
        rollback(em, m);
        mr_ops_drop(ctx, -1);
        for (size_t i = 0; i < count; i++) em->rejected[elements[i].index] = 0;
        if (count == 1) add_error(em->out, elements[0].index, ctx->error ? ctx->error : "process_batch failed");
        return false;
    }
    bool any = false;
    for (size_t i = 0; i < count; i++) any |= em->rejected[elements[i].index];
    if (any) drop_rejected(em, m);
    mr_ops_commit(ctx, em->rejected);
    for (size_t i = 0; i < count; i++) {
        uint32_t source = elements[i].index;
        if (em->rejected[source]) add_error(em->out, source, em->reasons[source]);
    }
    return true;
}

static void run_one(mr_ctx *ctx, mr_emitter *em, const mr_element *e) {
    select_element(em, e);
    mark_t m = mark(em);
    ctx->error = NULL;
    if (P->dofn.process(ctx, e, em) == MR_OK) {
        mr_ops_commit(ctx, NULL);
    } else {
        rollback(em, m);
        mr_ops_drop(ctx, -1);
        add_error(em->out, e->index, ctx->error ? ctx->error : "process failed");
    }
}

mr_status mr_run_process(const mr_elements_in *in, mr_dofn_output *out, char **message) {
    (void)message;
    mr_ctx *ctx = mr_call_begin();
    ctx->keys = in->keys;
    ctx->window_starts = in->window_starts;
    ctx->window_ends = in->window_ends;
    size_t n = in->count;
    mr_element *elements = mr_alloc(ctx, (n ? n : 1) * sizeof *elements);
    char **unreadable = mr_alloc(ctx, (n ? n : 1) * sizeof *unreadable);
    bool clean = true;
    for (size_t i = 0; i < n; i++) {
        unreadable[i] = NULL;
        if (!read_element(ctx, in, i, &elements[i], &unreadable[i])) clean = false;
    }
    mr_emitter em = {.ctx = ctx, .out = out, .source = NO_SOURCE};
    if (P->dofn.process_batch) {
        em.rejected = mr_alloc(ctx, n ? n : 1);
        memset(em.rejected, 0, n ? n : 1);
        em.reasons = mr_alloc(ctx, (n ? n : 1) * sizeof *em.reasons);
        if (!(clean && (attempt_batch(ctx, &em, elements, n) || n == 1))) {
            /* The batch failed as a whole: find the elements that fail, one by one. */
            for (size_t i = 0; i < n; i++) {
                if (unreadable[i]) {
                    add_error(out, (uint32_t)i, unreadable[i]);
                } else if (P->dofn.process) {
                    run_one(ctx, &em, &elements[i]);
                } else {
                    attempt_batch(ctx, &em, &elements[i], 1);
                }
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (unreadable[i]) {
                add_error(out, (uint32_t)i, unreadable[i]);
            } else {
                run_one(ctx, &em, &elements[i]);
            }
        }
    }
    mr_call_end();
    return MR_OK;
}

mr_status mr_run_on_timer(const mr_timers_in *in, mr_dofn_output *out, char **message) {
    (void)message;
    mr_ctx *ctx = mr_call_begin();
    ctx->keys = in->keys;
    ctx->window_starts = in->window_starts;
    ctx->window_ends = in->window_ends;
    mr_emitter em = {.ctx = ctx, .out = out, .source = NO_SOURCE};
    if (P->dofn.on_timer) {
        for (size_t i = 0; i < in->count; i++) {
            size_t key_len;
            const uint8_t *key = mr_item(&in->keys, i, &key_len);
            char *name = mr_alloc(ctx, in->name_lens[i] + 1);
            memcpy(name, in->names[i], in->name_lens[i]);
            name[in->name_lens[i]] = 0;
            mr_timer timer = {
                .key = parse_key(ctx, key, key_len),
                .window = {in->window_starts[i], in->window_ends[i]},
                .name = name,
                .time = in->times[i],
                .index = (uint32_t)i,
                .raw_key = (const char *)key,
                .raw_key_len = key_len,
            };
            em.source = (uint32_t)i;
            em.key = timer.raw_key;
            em.key_len = key_len;
            em.timestamp = timer.time;
            mark_t m = mark(&em);
            ctx->error = NULL;
            if (P->dofn.on_timer(ctx, &timer, &em) == MR_OK) {
                mr_ops_commit(ctx, NULL);
            } else {
                rollback(&em, m);
                mr_ops_drop(ctx, -1);
                add_error(out, (uint32_t)i, ctx->error ? ctx->error : "on_timer failed");
            }
        }
    }
    mr_call_end();
    return MR_OK;
}

/* -- CombineFn ---------------------------------------------------------------------------- */

static size_t acc_size(void) {
    return P->combine.accumulator_codec ? P->combine.accumulator_codec->size : P->combine.accumulator_size;
}

static char *the_format;

const char *mr_combine_format(void) {
    if (!the_format) {
        mr_buf buf = {0};
        const char *version = P->combine.accumulator_format ? P->combine.accumulator_format : "1";
        if (P->combine.accumulator_codec) {
            const char *f = P->combine.accumulator_codec->format;
            mr_buf_push(&buf, f, strlen(f));
        } else {
            char tmp[48];
            size_t n = 0, size = acc_size();
            do {
                tmp[n++] = (char)('0' + size % 10);
                size /= 10;
            } while (size);
            mr_buf_push(&buf, "c-struct/", 9);
            while (n) mr_buf_byte(&buf, (uint8_t)tmp[--n]);
        }
        mr_buf_byte(&buf, '/');
        mr_buf_push(&buf, version, strlen(version));
        the_format = mr_strdup_n((const char *)buf.data, buf.len);
        mr_buf_free(&buf);
    }
    return the_format;
}

mr_inversion mr_combine_inversion(void) { return P->combine.inversion; }

static mr_status encode_value(mr_ctx *ctx, const mr_codec *codec, size_t size, const void *value,
                              mr_buf *out) {
    if (codec) return codec->encode(ctx, value, out);
    mr_buf_push(out, value, size);
    return MR_OK;
}

static mr_status decode_value(mr_ctx *ctx, const mr_codec *codec, size_t size, const uint8_t *data,
                              size_t len, void *value, const char *what) {
    if (codec) {
        ctx->error = NULL;
        if (codec->decode(ctx, data, len, value) == MR_OK) return MR_OK;
        return mr_error(ctx, "cannot read the %s: %s", what, ctx->error ? ctx->error : "malformed");
    }
    if (len != size) return mr_error(ctx, "cannot read the %s: %zu bytes, not %zu", what, len, size);
    memcpy(value, data, size);
    return MR_OK;
}

static void *fresh_accumulator(mr_ctx *ctx) {
    size_t size = acc_size();
    void *acc = mr_alloc(ctx, size);
    memset(acc, 0, size);
    if (P->combine.create_accumulator) P->combine.create_accumulator(acc);
    return acc;
}

void mr_run_create_accumulator(mr_buf *out) {
    mr_ctx *ctx = mr_call_begin();
    void *acc = fresh_accumulator(ctx);
    if (encode_value(ctx, P->combine.accumulator_codec, acc_size(), acc, out) != MR_OK) out->len = 0;
    mr_call_end();
}

static void add_rejected(mr_added *a, uint32_t index, const char *message) {
    if (a->rejected_len == a->rejected_cap) {
        a->rejected_cap = a->rejected_cap ? a->rejected_cap * 2 : 8;
        a->rejected_messages = mr_xrealloc(a->rejected_messages, a->rejected_cap * sizeof(char *));
    }
    mr_u32s_push(&a->rejected_indexes, index);
    a->rejected_messages[a->rejected_len++] = mr_strdup_n(message, strlen(message));
}

void mr_added_free(mr_added *a) {
    mr_buf_free(&a->accumulators.bytes);
    free(a->accumulators.ends.data);
    free(a->rejected_indexes.data);
    for (size_t i = 0; i < a->rejected_len; i++) free(a->rejected_messages[i]);
    free(a->rejected_messages);
    memset(a, 0, sizeof *a);
}

mr_status mr_run_add(const mr_blobs_in *accumulators, const mr_blobs_in *inputs,
                     const uint32_t *group_ends, size_t groups, bool retract, mr_added *out,
                     char **message) {
    mr_ctx *ctx = mr_call_begin();
    const mr_codec *codec = P->combine.accumulator_codec;
    size_t size = acc_size();
    mr_status (*step)(mr_ctx *, void *, const mr_json *) =
        retract ? P->combine.uncombine : P->combine.add_input;
    mr_status status = MR_OK;
    size_t n = inputs->count;
    const mr_json **values = mr_alloc(ctx, (n ? n : 1) * sizeof *values);
    char **unreadable = mr_alloc(ctx, (n ? n : 1) * sizeof *unreadable);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *bytes = mr_item(inputs, i, &len);
        char *why;
        unreadable[i] = NULL;
        if (mr_json_parse_quiet(ctx->arena, (const char *)bytes, len, &values[i], &why)) {
            values[i] = NULL;
            unreadable[i] = mr_printf(ctx, "cannot read the value: %s", why);
        }
    }
    void *snapshot = mr_alloc(ctx, size);
    void *acc = mr_alloc(ctx, size);
    const mr_json **readable = mr_alloc(ctx, (n ? n : 1) * sizeof *readable);
    size_t start = 0;
    for (size_t g = 0; g < groups && status == MR_OK; g++) {
        size_t end = group_ends[g];
        if (end > n || end < start) {
            status = mr_error(ctx, "group ends past the inputs");
            break;
        }
        if (g >= accumulators->count) {
            status = mr_error(ctx, "fewer accumulators than groups");
            break;
        }
        size_t acc_len;
        const uint8_t *acc_bytes = mr_item(accumulators, g, &acc_len);
        status = decode_value(ctx, codec, size, acc_bytes, acc_len, acc, "accumulator");
        if (status != MR_OK) break;
        bool done = false;
        if (!retract && P->combine.add_inputs) {
            size_t count = 0;
            for (size_t i = start; i < end; i++) {
                if (!unreadable[i]) readable[count++] = values[i];
            }
            memcpy(snapshot, acc, size);
            ctx->error = NULL;
            if (P->combine.add_inputs(ctx, acc, readable, count) == MR_OK) {
                done = true;
                for (size_t i = start; i < end; i++) {
                    if (unreadable[i]) add_rejected(out, (uint32_t)i, unreadable[i]);
                }
            } else {
                memcpy(acc, snapshot, size);
            }
        }
        if (!done) {
            for (size_t i = start; i < end; i++) {
                if (unreadable[i]) {
                    add_rejected(out, (uint32_t)i, unreadable[i]);
                    continue;
                }
                if (!step) {
                    add_rejected(out, (uint32_t)i, "this combine function cannot take inputs back");
                    continue;
                }
                memcpy(snapshot, acc, size);
                ctx->error = NULL;
                if (step(ctx, acc, values[i]) != MR_OK) {
                    memcpy(acc, snapshot, size);
                    add_rejected(out, (uint32_t)i, ctx->error ? ctx->error : "rejected");
                }
            }
        }
        ctx->error = NULL;
        status = encode_value(ctx, codec, size, acc, &out->accumulators.bytes);
        if (status != MR_OK) break;
        mr_blobs_end(&out->accumulators);
        start = end;
    }
    if (status != MR_OK) *message = take_message(ctx, "cannot write the accumulator");
    mr_call_end();
    return status;
}

mr_status mr_run_merge(const mr_blobs_in *accumulators, const uint32_t *group_ends, size_t groups,
                       mr_blobs *out, char **message) {
    mr_ctx *ctx = mr_call_begin();
    const mr_codec *codec = P->combine.accumulator_codec;
    size_t size = acc_size();
    mr_status status = MR_OK;
    void *other = mr_alloc(ctx, size);
    size_t start = 0;
    for (size_t g = 0; g < groups && status == MR_OK; g++) {
        size_t end = group_ends[g];
        if (end > accumulators->count || end < start) {
            status = mr_error(ctx, "group ends past the accumulators");
            break;
        }
        void *acc = fresh_accumulator(ctx);
        for (size_t i = start; i < end && status == MR_OK; i++) {
            size_t len;
            const uint8_t *bytes = mr_item(accumulators, i, &len);
            status = decode_value(ctx, codec, size, bytes, len, other, "accumulator");
            if (status == MR_OK && P->combine.merge_accumulators) {
                status = P->combine.merge_accumulators(ctx, acc, other);
            } else if (status == MR_OK) {
                status = mr_error(ctx, "the CombineFn has no merge_accumulators");
            }
        }
        if (status == MR_OK) status = encode_value(ctx, codec, size, acc, &out->bytes);
        if (status == MR_OK) mr_blobs_end(out);
        start = end;
    }
    if (status != MR_OK) *message = take_message(ctx, "merge failed");
    mr_call_end();
    return status;
}

mr_status mr_run_extract(const mr_blobs_in *accumulators, mr_blobs *out, char **message) {
    mr_ctx *ctx = mr_call_begin();
    const mr_codec *codec = P->combine.accumulator_codec;
    size_t size = acc_size();
    mr_status status = MR_OK;
    void *acc = mr_alloc(ctx, size);
    for (size_t i = 0; i < accumulators->count && status == MR_OK; i++) {
        size_t len;
        const uint8_t *bytes = mr_item(accumulators, i, &len);
        status = decode_value(ctx, codec, size, bytes, len, acc, "accumulator");
        if (status != MR_OK) break;
        const mr_json *value = NULL;
        status = P->combine.extract_output(ctx, acc, &value);
        if (status != MR_OK) break;
        if (!mr_json_write_to(&out->bytes, value)) {
            status = mr_error(ctx, "the output is a NaN or an infinity, which JSON cannot hold");
            break;
        }
        mr_blobs_end(out);
    }
    if (status != MR_OK) *message = take_message(ctx, "extract failed");
    mr_call_end();
    return status;
}

/* -- WindowFn ------------------------------------------------------------------------------ */

bool mr_window_merging(void) { return P->window.merging; }

void mr_windows_add(mr_windows *out, mr_window window) {
    mr_i64s_push(&out->starts, window.start);
    mr_i64s_push(&out->ends, window.end);
    mr_u32s_push(&out->sources, out->source);
}

mr_status mr_run_assign(const mr_elements_in *in, mr_windows_out *out, char **message) {
    mr_ctx *ctx = mr_call_begin();
    mr_status status = MR_OK;
    for (size_t i = 0; i < in->count && status == MR_OK; i++) {
        mr_element e;
        char *why;
        if (!read_element(ctx, in, i, &e, &why)) {
            status = mr_error(ctx, "element %zu: %s", i, why);
            break;
        }
        out->source = (uint32_t)i;
        ctx->error = NULL;
        if (P->window.assign(ctx, &e, out) != MR_OK) {
            status = mr_error(ctx, "element %zu: %s", i, ctx->error ? ctx->error : "assign failed");
        }
    }
    if (status != MR_OK) *message = take_message(ctx, "assign failed");
    mr_call_end();
    return status;
}

mr_status mr_merges_add(mr_merges *out, const size_t *members, size_t count, mr_window result) {
    for (size_t i = 0; i < count; i++) {
        if (members[i] >= out->count) {
            return mr_error(NULL, "merge names window %zu of a key that has %zu", members[i], out->count);
        }
    }
    mr_i64s_push(&out->starts, result.start);
    mr_i64s_push(&out->ends, result.end);
    for (size_t i = 0; i < count; i++) mr_u32s_push(&out->members, (uint32_t)(out->offset + members[i]));
    mr_u32s_push(&out->member_ends, (uint32_t)out->members.len);
    return MR_OK;
}

mr_status mr_run_merge_windows(const int64_t *starts, const int64_t *ends, size_t count,
                               const uint32_t *key_ends, size_t keys, mr_merges_out *out,
                               char **message) {
    mr_ctx *ctx = mr_call_begin();
    mr_status status = MR_OK;
    size_t start = 0;
    for (size_t k = 0; k < keys && status == MR_OK; k++) {
        size_t end = key_ends[k];
        if (end > count || end < start) {
            status = mr_error(ctx, "key ends past the windows");
            break;
        }
        mr_window *windows = mr_alloc(ctx, (end - start + 1) * sizeof *windows);
        for (size_t i = start; i < end; i++) windows[i - start] = (mr_window){starts[i], ends[i]};
        out->offset = start;
        out->count = end - start;
        ctx->error = NULL;
        if (P->window.merge) status = P->window.merge(ctx, windows, end - start, out);
        start = end;
    }
    if (status != MR_OK) *message = take_message(ctx, "merge failed");
    mr_call_end();
    return status;
}

/* -- Trigger -------------------------------------------------------------------------------- */

mr_status mr_run_on_elements(const mr_blobs_in *states, const mr_elements_in *in,
                             const uint32_t *element_ends, size_t windows, mr_blobs *out_states,
                             bool **fire_out, char **message) {
    mr_ctx *ctx = mr_call_begin();
    const mr_codec *codec = P->trigger.state_codec;
    size_t size = codec ? codec->size : P->trigger.state_size;
    if (!size) size = 1;
    mr_status status = MR_OK;
    bool *fire = mr_xmalloc((windows ? windows : 1) * sizeof *fire);
    void *state = mr_alloc(ctx, size);
    mr_element *elements = mr_alloc(ctx, (in->count ? in->count : 1) * sizeof *elements);
    for (size_t i = 0; i < in->count; i++) {
        char *why;
        if (!read_element(ctx, in, i, &elements[i], &why)) {
            status = mr_error(ctx, "element %zu: %s", i, why);
            break;
        }
    }
    size_t start = 0;
    for (size_t w = 0; w < windows && status == MR_OK; w++) {
        size_t end = element_ends[w];
        if (end > in->count || end < start) {
            status = mr_error(ctx, "element ends past the elements");
            break;
        }
        size_t len = 0;
        const uint8_t *bytes = w < states->count ? mr_item(states, w, &len) : NULL;
        if (!len) {
            memset(state, 0, size);
            if (P->trigger.initial_state) P->trigger.initial_state(state);
        } else {
            status = decode_value(ctx, codec, size, bytes, len, state, "trigger state");
            if (status != MR_OK) break;
        }
        mr_window window = end > start ? elements[start].window : MR_GLOBAL_WINDOW;
        bool fires = false;
        ctx->error = NULL;
        status = P->trigger.on_elements(ctx, state, window, elements + start, end - start, &fires);
        if (status != MR_OK) break;
        fire[w] = fires;
        status = encode_value(ctx, codec, size, state, &out_states->bytes);
        if (status != MR_OK) break;
        mr_blobs_end(out_states);
        start = end;
    }
    if (status != MR_OK) {
        *message = take_message(ctx, "on_elements failed");
        free(fire);
        fire = NULL;
    }
    *fire_out = fire;
    mr_call_end();
    return status;
}
