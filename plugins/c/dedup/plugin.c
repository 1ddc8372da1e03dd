/* Drops repeats: a record whose id was already seen for the same key within the
 * horizon (in event time) is not passed on. Each id is remembered in keyed state and
 * forgotten by an event-time timer once the watermark passes ts + horizon. Repeats
 * may go to a side output instead of nowhere.
 *
 * The C twin of plugins/dedup, with the same configuration and the same state (each
 * id's cell, "seen:<the id as serde_json writes it>", holds its first time as a
 * postcard i64, as the Rust plugin's does):
 *
 *     pardo:
 *       plugin: plugins/c/dedup
 *       outputs: [repeats]       # only with `repeats` below
 *       config:
 *         id: event_id           # the field of the value that identifies a record (else the whole value)
 *         horizon: 600000        # how long an id is remembered, in milliseconds of event time
 *         repeats: repeats       # optional: the side output repeats go to
 */
#include "millrace.h"

static const char *id_field, *repeats;
static int64_t horizon;

static mr_status start(mr_ctx *ctx, const mr_json *config) {
    if (mr_config_require_int(ctx, config, "horizon", &horizon)) return MR_ERROR;
    if (horizon <= 0) return mr_error(ctx, "config \"horizon\" must be a positive number of milliseconds");
    if (mr_config_string(ctx, config, "id", NULL, &id_field)) return MR_ERROR;
    return mr_config_string(ctx, config, "repeats", NULL, &repeats);
}

static mr_status process(mr_ctx *ctx, const mr_element *e, mr_emitter *out) {
    const mr_json *id = e->value;
    if (id_field && !(id = mr_json_get(e->value, id_field))) {
        return mr_error(ctx, "missing the id field \"%s\"", id_field);
    }
    const char *name = mr_printf(ctx, "seen:%s", mr_json_write_canonical(ctx, id, NULL));
    if (mr_state_has(ctx, e->index, name)) {
        mr_counter_add("duplicates", 1);
        return repeats ? mr_emit_to(out, repeats, e->value) : MR_OK;
    }
    mr_state_set_i64(ctx, e->index, name, e->timestamp);
    int64_t until = e->timestamp > MR_MAX_TIME - horizon ? MR_MAX_TIME : e->timestamp + horizon;
    mr_timer_set_event(ctx, e->index, name, until);
    return mr_emit_json_text(out, e->raw_value, e->raw_value_len);
}

/* The horizon has passed: forget the id. */
static mr_status expire(mr_ctx *ctx, const mr_timer *timer, mr_emitter *out) {
    mr_state_clear(ctx, timer->index, timer->name);
    return MR_OK;
}

MILLRACE_DOFN(.init = start, .process = process, .on_timer = expire);
