/* The window-plugin world: its exports over the SDK's WindowFn runner. */
#include "window_plugin.h"
#include "internal.h"

#define WORLD_STRING window_plugin_string_t
#include "wasm_host.inc"

FORCE_LINK(window_plugin)

static const mr_host the_host = {host_log, host_counter_add, host_gauge_set, host_config};

bool exports_millrace_plugin_window_fn_init(exports_millrace_plugin_window_fn_info_t *ret,
                                            exports_millrace_plugin_window_fn_error_t *err) {
    mr_current_host = &the_host;
    if (millrace_plugin.kind != MR_KIND_WINDOW) {
        GIVE_MESSAGE(err->message, mr_strdup_n("plugin.c does not export a window function", 42));
        return false;
    }
    char *message = NULL;
    if (mr_run_init(&message) != MR_OK) {
        GIVE_MESSAGE(err->message, message);
        return false;
    }
    ret->merging = mr_window_merging();
    return true;
}

bool exports_millrace_plugin_window_fn_assign(exports_millrace_plugin_window_fn_elements_t *input,
                                              exports_millrace_plugin_window_fn_assignment_t *ret,
                                              exports_millrace_plugin_window_fn_error_t *err) {
    mr_elements_in in = {
        BLOBS_IN(input->keys), BLOBS_IN(input->values), input->timestamps.ptr,
        input->window_starts.ptr, input->window_ends.ptr, input->timestamps.len,
    };
    mr_windows_out out = {0};
    char *message = NULL;
    mr_status status = mr_run_assign(&in, &out, &message);
    exports_millrace_plugin_window_fn_elements_free(input);
    if (status == MR_OK) {
        GIVE(ret->starts, out.starts.data, out.starts.len);
        GIVE(ret->ends, out.ends.data, out.ends.len);
        GIVE(ret->sources, out.sources.data, out.sources.len);
        return true;
    }
    free(out.starts.data);
    free(out.ends.data);
    free(out.sources.data);
    GIVE_MESSAGE(err->message, message);
    return false;
}

bool exports_millrace_plugin_window_fn_merge(exports_millrace_plugin_window_fn_list_timestamp_t *starts,
                                             exports_millrace_plugin_window_fn_list_timestamp_t *ends,
                                             window_plugin_list_u32_t *key_ends,
                                             exports_millrace_plugin_window_fn_merges_t *ret,
                                             exports_millrace_plugin_window_fn_error_t *err) {
    mr_merges_out out = {0};
    char *message = NULL;
    size_t count = starts->len < ends->len ? starts->len : ends->len;
    mr_status status =
        mr_run_merge_windows(starts->ptr, ends->ptr, count, key_ends->ptr, key_ends->len, &out, &message);
    exports_millrace_plugin_window_fn_list_timestamp_free(starts);
    exports_millrace_plugin_window_fn_list_timestamp_free(ends);
    window_plugin_list_u32_free(key_ends);
    if (status == MR_OK) {
        GIVE(ret->starts, out.starts.data, out.starts.len);
        GIVE(ret->ends, out.ends.data, out.ends.len);
        GIVE(ret->members, out.members.data, out.members.len);
        GIVE(ret->member_ends, out.member_ends.data, out.member_ends.len);
        return true;
    }
    free(out.starts.data);
    free(out.ends.data);
    free(out.members.data);
    free(out.member_ends.data);
    GIVE_MESSAGE(err->message, message);
    return false;
}
