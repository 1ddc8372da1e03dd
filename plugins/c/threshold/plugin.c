/* A data-driven trigger for anomalies (paper §3.3.6): fires when a value crosses a
 * threshold from below, and re-arms once a value falls below it again.
 *
 * The C twin of plugins/threshold, with the same configuration:
 *
 *     trigger: { repeatedly: { plugin: plugins/c/threshold, config: { threshold: 100, field: latency } } }
 *
 * `field` picks a number out of object values; without it the value itself is read.
 * The per-window state, whether the last value seen was at or above the threshold,
 * is a postcard bool as in the Rust plugin. */
#include "millrace.h"

static double threshold;
static const char *field;

static mr_status start(mr_ctx *ctx, const mr_json *config) {
    if (mr_config_require_double(ctx, config, "threshold", &threshold)) return MR_ERROR;
    return mr_config_string(ctx, config, "field", NULL, &field);
}

static mr_status on_elements(mr_ctx *ctx, void *state, mr_window window, const mr_element *elements,
                             size_t count, bool *fire) {
    bool *above = state;
    for (size_t i = 0; i < count; i++) {
        const mr_json *reading = field ? mr_json_get(elements[i].value, field) : elements[i].value;
        if (!mr_json_is_number(reading)) continue;
        bool now_above = mr_json_double(reading) >= threshold;
        *fire |= now_above && !*above;
        *above = now_above;
    }
    return MR_OK;
}

MILLRACE_TRIGGER(.state_codec = &MR_POSTCARD_BOOL, .init = start, .on_elements = on_elements);
