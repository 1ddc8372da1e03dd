/* The combine-plugin world: its exports over the SDK's CombineFn runner. */
#include "combine_plugin.h"
#include "internal.h"

#define WORLD_STRING combine_plugin_string_t
#include "wasm_host.inc"

FORCE_LINK(combine_plugin)

static const mr_host the_host = {host_log, host_counter_add, host_gauge_set, host_config};

typedef exports_millrace_plugin_combine_fn_blobs_t wit_blobs;

static void give_added(mr_added *a, exports_millrace_plugin_combine_fn_added_t *ret) {
    GIVE_BLOBS(ret->accumulators, a->accumulators);
    ret->rejected.ptr = NULL;
    ret->rejected.len = 0;
    if (a->rejected_len) {
        exports_millrace_plugin_combine_fn_element_error_t *rejected =
            mr_xmalloc(a->rejected_len * sizeof *rejected);
        for (size_t i = 0; i < a->rejected_len; i++) {
            rejected[i].index = a->rejected_indexes.data[i];
            GIVE_MESSAGE(rejected[i].message, a->rejected_messages[i]);
        }
        ret->rejected.ptr = rejected;
        ret->rejected.len = a->rejected_len;
    }
    free(a->rejected_indexes.data);
    free(a->rejected_messages);
}

bool exports_millrace_plugin_combine_fn_init(exports_millrace_plugin_combine_fn_info_t *ret,
                                             exports_millrace_plugin_combine_fn_error_t *err) {
    mr_current_host = &the_host;
    if (millrace_plugin.kind != MR_KIND_COMBINE) {
        GIVE_MESSAGE(err->message, mr_strdup_n("plugin.c does not export a CombineFn", 36));
        return false;
    }
    char *message = NULL;
    if (mr_run_init(&message) != MR_OK) {
        GIVE_MESSAGE(err->message, message);
        return false;
    }
    const char *format = mr_combine_format();
    GIVE_MESSAGE(ret->accumulator_format, mr_strdup_n(format, strlen(format)));
    switch (mr_combine_inversion()) {
    case MR_INVERSION_SUBTRACT: ret->inversion = EXPORTS_MILLRACE_PLUGIN_COMBINE_FN_INVERSION_SUBTRACT; break;
    case MR_INVERSION_REMOVE: ret->inversion = EXPORTS_MILLRACE_PLUGIN_COMBINE_FN_INVERSION_REMOVE; break;
    default: ret->inversion = EXPORTS_MILLRACE_PLUGIN_COMBINE_FN_INVERSION_NONE;
    }
    return true;
}

void exports_millrace_plugin_combine_fn_create_accumulator(combine_plugin_list_u8_t *ret) {
    mr_buf out = {0};
    mr_run_create_accumulator(&out);
    GIVE(*ret, out.data, out.len);
}

static bool add(wit_blobs *accumulators, wit_blobs *inputs, combine_plugin_list_u32_t *group_ends,
                bool retract, exports_millrace_plugin_combine_fn_added_t *ret, char **message) {
    mr_blobs_in accs = BLOBS_IN(*accumulators);
    mr_blobs_in ins = BLOBS_IN(*inputs);
    mr_added added = {0};
    mr_status status = mr_run_add(&accs, &ins, group_ends->ptr, group_ends->len, retract, &added, message);
    if (status == MR_OK) {
        give_added(&added, ret);
    } else {
        mr_added_free(&added);
    }
    exports_millrace_plugin_combine_fn_blobs_free(accumulators);
    exports_millrace_plugin_combine_fn_blobs_free(inputs);
    combine_plugin_list_u32_free(group_ends);
    return status == MR_OK;
}

bool exports_millrace_plugin_combine_fn_add_inputs(wit_blobs *accumulators, wit_blobs *inputs,
                                                   combine_plugin_list_u32_t *group_ends,
                                                   exports_millrace_plugin_combine_fn_added_t *ret,
                                                   exports_millrace_plugin_combine_fn_error_t *err) {
    char *message = NULL;
    if (add(accumulators, inputs, group_ends, false, ret, &message)) return true;
    GIVE_MESSAGE(err->message, message);
    return false;
}

bool exports_millrace_plugin_combine_fn_uncombine(wit_blobs *accumulators, wit_blobs *inputs,
                                                  combine_plugin_list_u32_t *group_ends,
                                                  exports_millrace_plugin_combine_fn_added_t *ret,
                                                  exports_millrace_plugin_combine_fn_uncombine_error_t *err) {
    if (mr_combine_inversion() == MR_INVERSION_NONE) {
        exports_millrace_plugin_combine_fn_blobs_free(accumulators);
        exports_millrace_plugin_combine_fn_blobs_free(inputs);
        combine_plugin_list_u32_free(group_ends);
        err->tag = EXPORTS_MILLRACE_PLUGIN_COMBINE_FN_UNCOMBINE_ERROR_NOT_INVERTIBLE;
        return false;
    }
    char *message = NULL;
    if (add(accumulators, inputs, group_ends, true, ret, &message)) return true;
    err->tag = EXPORTS_MILLRACE_PLUGIN_COMBINE_FN_UNCOMBINE_ERROR_FAILED;
    GIVE_MESSAGE(err->val.failed.message, message);
    return false;
}

bool exports_millrace_plugin_combine_fn_merge_accumulators(wit_blobs *accumulators,
                                                           combine_plugin_list_u32_t *group_ends,
                                                           wit_blobs *ret,
                                                           exports_millrace_plugin_combine_fn_error_t *err) {
    mr_blobs_in accs = BLOBS_IN(*accumulators);
    mr_blobs out = {0};
    char *message = NULL;
    mr_status status = mr_run_merge(&accs, group_ends->ptr, group_ends->len, &out, &message);
    exports_millrace_plugin_combine_fn_blobs_free(accumulators);
    combine_plugin_list_u32_free(group_ends);
    if (status == MR_OK) {
        GIVE_BLOBS(*ret, out);
        return true;
    }
    mr_buf_free(&out.bytes);
    free(out.ends.data);
    GIVE_MESSAGE(err->message, message);
    return false;
}

bool exports_millrace_plugin_combine_fn_extract_outputs(wit_blobs *accumulators, wit_blobs *ret,
                                                        exports_millrace_plugin_combine_fn_error_t *err) {
    mr_blobs_in accs = BLOBS_IN(*accumulators);
    mr_blobs out = {0};
    char *message = NULL;
    mr_status status = mr_run_extract(&accs, &out, &message);
    exports_millrace_plugin_combine_fn_blobs_free(accumulators);
    if (status == MR_OK) {
        GIVE_BLOBS(*ret, out);
        return true;
    }
    mr_buf_free(&out.bytes);
    free(out.ends.data);
    GIVE_MESSAGE(err->message, message);
    return false;
}
