/* The dofn-plugin world: its exports over the SDK's DoFn runner. */
#include "dofn_plugin.h"
#include "internal.h"

#define WORLD_STRING dofn_plugin_string_t
#include "wasm_host.inc"

FORCE_LINK(dofn_plugin)

static bool host_state_get(uint32_t index, const char *name, size_t name_len, const uint8_t **data,
                           size_t *len) {
    WORLD_STRING s = as_string(name, name_len);
    dofn_plugin_list_u8_t value;
    if (!millrace_plugin_state_get(index, &s, &value)) return false;
    *data = value.len ? value.ptr : NULL;
    *len = value.len;
    return true;
}

static void host_state_set(uint32_t index, const char *name, size_t name_len, const uint8_t *data,
                           size_t len) {
    WORLD_STRING s = as_string(name, name_len);
    dofn_plugin_list_u8_t value = {(uint8_t *)data, len};
    millrace_plugin_state_set(index, &s, &value);
}

static void host_state_clear(uint32_t index, const char *name, size_t name_len) {
    WORLD_STRING s = as_string(name, name_len);
    millrace_plugin_state_clear(index, &s);
}

static void host_timer_event(uint32_t index, const char *name, size_t name_len, int64_t time) {
    WORLD_STRING s = as_string(name, name_len);
    millrace_plugin_state_set_event_timer(index, &s, time);
}

static void host_timer_processing(uint32_t index, const char *name, size_t name_len, int64_t time) {
    WORLD_STRING s = as_string(name, name_len);
    millrace_plugin_state_set_processing_timer(index, &s, time);
}

static void host_timer_clear(uint32_t index, const char *name, size_t name_len) {
    WORLD_STRING s = as_string(name, name_len);
    millrace_plugin_state_clear_timer(index, &s);
}

static const mr_host the_host = {
    host_log,         host_counter_add, host_gauge_set,   host_config,           host_state_get,
    host_state_set,   host_state_clear, host_timer_event, host_timer_processing, host_timer_clear,
};

static void give_output(mr_dofn_output *o, exports_millrace_plugin_dofn_output_t *ret) {
    GIVE_BLOBS(ret->keys, o->keys);
    GIVE_BLOBS(ret->values, o->values);
    GIVE(ret->timestamps, o->timestamps.data, o->timestamps.len);
    GIVE(ret->sources, o->sources.data, o->sources.len);
    GIVE_BLOBS(ret->tags, o->tags);
    ret->errors.ptr = NULL;
    ret->errors.len = 0;
    if (o->errors_len) {
        exports_millrace_plugin_dofn_element_error_t *errors =
            mr_xmalloc(o->errors_len * sizeof *errors);
        for (size_t i = 0; i < o->errors_len; i++) {
            errors[i].index = o->error_indexes.data[i];
            GIVE_MESSAGE(errors[i].message, o->error_messages[i]);
        }
        ret->errors.ptr = errors;
        ret->errors.len = o->errors_len;
    }
    free(o->error_indexes.data);
    free(o->error_messages);
}

bool exports_millrace_plugin_dofn_init(exports_millrace_plugin_dofn_error_t *err) {
    mr_current_host = &the_host;
    if (millrace_plugin.kind != MR_KIND_DOFN) {
        GIVE_MESSAGE(err->message, mr_strdup_n("plugin.c does not export a DoFn", 31));
        return false;
    }
    char *message = NULL;
    if (mr_run_init(&message) != MR_OK) {
        GIVE_MESSAGE(err->message, message);
        return false;
    }
    return true;
}

bool exports_millrace_plugin_dofn_process(exports_millrace_plugin_dofn_elements_t *input,
                                          exports_millrace_plugin_dofn_output_t *ret,
                                          exports_millrace_plugin_dofn_error_t *err) {
    (void)err;
    mr_elements_in in = {
        BLOBS_IN(input->keys), BLOBS_IN(input->values), input->timestamps.ptr,
        input->window_starts.ptr, input->window_ends.ptr, input->timestamps.len,
    };
    mr_dofn_output out = {0};
    char *message = NULL;
    mr_run_process(&in, &out, &message);
    give_output(&out, ret);
    exports_millrace_plugin_dofn_elements_free(input);
    return true;
}

bool exports_millrace_plugin_dofn_on_timer(exports_millrace_plugin_dofn_fired_timers_t *timers,
                                           exports_millrace_plugin_dofn_output_t *ret,
                                           exports_millrace_plugin_dofn_error_t *err) {
    (void)err;
    size_t n = timers->times.len;
    const char **names = mr_xmalloc((n ? n : 1) * sizeof *names);
    size_t *name_lens = mr_xmalloc((n ? n : 1) * sizeof *name_lens);
    for (size_t i = 0; i < n; i++) {
        names[i] = (const char *)timers->names.ptr[i].ptr;
        name_lens[i] = timers->names.ptr[i].len;
    }
    mr_timers_in in = {
        BLOBS_IN(timers->keys), timers->window_starts.ptr, timers->window_ends.ptr, names,
        name_lens, timers->times.ptr, n,
    };
    mr_dofn_output out = {0};
    char *message = NULL;
    mr_run_on_timer(&in, &out, &message);
    give_output(&out, ret);
    free(names);
    free(name_lens);
    exports_millrace_plugin_dofn_fired_timers_free(timers);
    return true;
}
