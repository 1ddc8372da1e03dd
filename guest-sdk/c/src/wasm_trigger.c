/* The trigger-plugin world: its export over the SDK's trigger runner. */
#include "trigger_plugin.h"
#include "internal.h"

#define WORLD_STRING trigger_plugin_string_t
#include "wasm_host.inc"

FORCE_LINK(trigger_plugin)

static const mr_host the_host = {host_log, host_counter_add, host_gauge_set, host_config};

bool exports_millrace_plugin_trigger_init(exports_millrace_plugin_trigger_error_t *err) {
    mr_current_host = &the_host;
    if (millrace_plugin.kind != MR_KIND_TRIGGER) {
        GIVE_MESSAGE(err->message, mr_strdup_n("plugin.c does not export a trigger", 34));
        return false;
    }
    char *message = NULL;
    if (mr_run_init(&message) != MR_OK) {
        GIVE_MESSAGE(err->message, message);
        return false;
    }
    return true;
}

bool exports_millrace_plugin_trigger_on_elements(exports_millrace_plugin_trigger_blobs_t *states,
                                                 exports_millrace_plugin_trigger_elements_t *input,
                                                 trigger_plugin_list_u32_t *element_ends,
                                                 exports_millrace_plugin_trigger_decision_t *ret,
                                                 exports_millrace_plugin_trigger_error_t *err) {
    mr_blobs_in in_states = BLOBS_IN(*states);
    mr_elements_in in = {
        BLOBS_IN(input->keys), BLOBS_IN(input->values), input->timestamps.ptr,
        input->window_starts.ptr, input->window_ends.ptr, input->timestamps.len,
    };
    mr_blobs out = {0};
    bool *fire = NULL;
    char *message = NULL;
    mr_status status =
        mr_run_on_elements(&in_states, &in, element_ends->ptr, element_ends->len, &out, &fire, &message);
    size_t windows = element_ends->len;
    exports_millrace_plugin_trigger_blobs_free(states);
    exports_millrace_plugin_trigger_elements_free(input);
    trigger_plugin_list_u32_free(element_ends);
    if (status == MR_OK) {
        GIVE_BLOBS(ret->states, out);
        GIVE(ret->fire, fire, windows);
        return true;
    }
    mr_buf_free(&out.bytes);
    free(out.ends.data);
    GIVE_MESSAGE(err->message, message);
    return false;
}
