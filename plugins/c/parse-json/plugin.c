/* Parses each value as JSON text (a string holding a JSON object, or an object),
 * keeps the records that match a filter, and re-keys them by a field.
 *
 * The C twin of plugins/parse-json, with the same configuration (all optional):
 *
 *     config:
 *       key: user              # field that becomes the key (dotted paths reach nested fields)
 *       value: score           # field that becomes the value (else the whole object)
 *       timestamp: ts          # field (integer ms) that becomes the event time
 *       where: { type: score } # keep only records whose fields equal these values
 *
 * Text that is not JSON, or a record without the key or value field, goes to the
 * dead-letter output with the reason. It takes the SDK's bulk path (process_batch):
 * one callback per batch rather than per element. */
#include "millrace.h"

static const char *key_field, *value_field, *time_field;
static const mr_json *filter;

static mr_status start(mr_ctx *ctx, const mr_json *config) {
    if (mr_config_allow_only(ctx, config, "key", "value", "timestamp", "where", NULL)) return MR_ERROR;
    if (mr_config_string(ctx, config, "key", NULL, &key_field)) return MR_ERROR;
    if (mr_config_string(ctx, config, "value", NULL, &value_field)) return MR_ERROR;
    if (mr_config_string(ctx, config, "timestamp", NULL, &time_field)) return MR_ERROR;
    return mr_config_object(ctx, config, "where", &filter);
}

/* Emits what one element gives, or refuses it. */
static mr_status parse(mr_ctx *ctx, const mr_element *e, mr_emitter *out) {
    const mr_json *record = e->value;
    if (mr_json_is_string(record)) {
        if (mr_json_parse(ctx, mr_json_string(record), mr_json_string_len(record), &record)) {
            return mr_error(ctx, "not valid JSON: %s", mr_last_error(ctx));
        }
    }
    if (!mr_json_is_object(record)) return mr_error(ctx, "expected a JSON object");
    for (size_t i = 0; i < mr_json_len(filter); i++) {
        if (!mr_json_equal(mr_json_path(record, mr_json_key_at(filter, i)), mr_json_value_at(filter, i))) {
            return MR_OK; /* filtered out */
        }
    }
    const mr_json *key = NULL; /* the element's own */
    if (key_field && !(key = mr_json_path(record, key_field))) {
        return mr_error(ctx, "missing the key field \"%s\"", key_field);
    }
    int64_t timestamp = e->timestamp;
    if (time_field) {
        const mr_json *at = mr_json_path(record, time_field);
        if (!mr_json_is_int(at)) return mr_error(ctx, "missing the integer time field \"%s\"", time_field);
        timestamp = mr_json_int(at);
    }
    if (value_field && !(record = mr_json_path(record, value_field))) {
        return mr_error(ctx, "missing the value field \"%s\"", value_field);
    }
    return mr_emit_at(out, key, record, timestamp);
}

/* The bulk path: one call for the whole batch; a bad record is rejected by index and
 * the rest carry on. */
static mr_status process_batch(mr_ctx *ctx, const mr_element *elements, size_t count, mr_emitter *out) {
    for (size_t i = 0; i < count; i++) {
        mr_emitter_select(out, (uint32_t)i);
        if (parse(ctx, &elements[i], out) != MR_OK) mr_reject(out, (uint32_t)i, "%s", mr_last_error(ctx));
    }
    return MR_OK;
}

MILLRACE_DOFN(.init = start, .process_batch = process_batch);
