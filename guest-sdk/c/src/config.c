/* Reading the step's configuration, with the messages of the Python SDK's Config. */
#include <string.h>

#include "internal.h"

static mr_status wrong_type(mr_ctx *ctx, const char *name, const char *expected, const mr_json *v) {
    mr_buf quoted = {0};
    mr_quote(&quoted, name, strlen(name));
    mr_status status = mr_error(ctx, "config %.*s: expected %s, got %s", (int)quoted.len,
                                (const char *)quoted.data, expected, mr_json_type_name(v));
    mr_buf_free(&quoted);
    return status;
}

static mr_status missing(mr_ctx *ctx, const char *name) {
    mr_buf quoted = {0};
    mr_quote(&quoted, name, strlen(name));
    mr_status status = mr_error(ctx, "config %.*s is required", (int)quoted.len, (const char *)quoted.data);
    mr_buf_free(&quoted);
    return status;
}

/* The setting, or NULL when absent or null. */
static const mr_json *setting(const mr_json *config, const char *name) {
    const mr_json *v = mr_json_get(config, name);
    return mr_json_is_null(v) ? NULL : v;
}

mr_status mr_config_string(mr_ctx *ctx, const mr_json *config, const char *name,
                           const char *fallback, const char **out) {
    const mr_json *v = setting(config, name);
    if (!v) {
        *out = fallback;
        return MR_OK;
    }
    if (!mr_json_is_string(v)) return wrong_type(ctx, name, "a string", v);
    *out = mr_json_string(v);
    return MR_OK;
}

mr_status mr_config_int(mr_ctx *ctx, const mr_json *config, const char *name, int64_t fallback,
                        int64_t *out) {
    const mr_json *v = setting(config, name);
    if (!v) {
        *out = fallback;
        return MR_OK;
    }
    if (!mr_json_is_int(v)) return wrong_type(ctx, name, "an integer", v);
    *out = mr_json_int(v);
    return MR_OK;
}

mr_status mr_config_double(mr_ctx *ctx, const mr_json *config, const char *name, double fallback,
                           double *out) {
    const mr_json *v = setting(config, name);
    if (!v) {
        *out = fallback;
        return MR_OK;
    }
    if (!mr_json_is_number(v)) return wrong_type(ctx, name, "a number", v);
    *out = mr_json_double(v);
    return MR_OK;
}

mr_status mr_config_bool(mr_ctx *ctx, const mr_json *config, const char *name, bool fallback,
                         bool *out) {
    const mr_json *v = setting(config, name);
    if (!v) {
        *out = fallback;
        return MR_OK;
    }
    if (!mr_json_is_bool(v)) return wrong_type(ctx, name, "a boolean", v);
    *out = mr_json_bool(v);
    return MR_OK;
}

mr_status mr_config_object(mr_ctx *ctx, const mr_json *config, const char *name, const mr_json **out) {
    const mr_json *v = setting(config, name);
    if (v && !mr_json_is_object(v)) return wrong_type(ctx, name, "a map", v);
    *out = v;
    return MR_OK;
}

mr_status mr_config_require_string(mr_ctx *ctx, const mr_json *config, const char *name,
                                   const char **out) {
    if (!setting(config, name)) return missing(ctx, name);
    return mr_config_string(ctx, config, name, NULL, out);
}

mr_status mr_config_require_int(mr_ctx *ctx, const mr_json *config, const char *name, int64_t *out) {
    if (!setting(config, name)) return missing(ctx, name);
    return mr_config_int(ctx, config, name, 0, out);
}

mr_status mr_config_require_double(mr_ctx *ctx, const mr_json *config, const char *name,
                                   double *out) {
    if (!setting(config, name)) return missing(ctx, name);
    return mr_config_double(ctx, config, name, 0, out);
}

mr_status mr_config_allow_only(mr_ctx *ctx, const mr_json *config, ...) {
    const char *names[64];
    size_t count = 0;
    va_list args;
    va_start(args, config);
    for (const char *n; count < 64 && (n = va_arg(args, const char *));) names[count++] = n;
    va_end(args);
    for (size_t i = 0; i < mr_json_len(config); i++) {
        const char *key = mr_json_key_at(config, i);
        if (!key) continue;
        bool known = false;
        for (size_t j = 0; j < count && !known; j++) known = !strcmp(key, names[j]);
        if (known) continue;
        mr_buf text = {0};
        mr_buf_push(&text, "config: unknown setting ", 24);
        mr_quote(&text, key, strlen(key));
        mr_buf_push(&text, ", expected one of ", 18);
        for (size_t j = 0; j < count; j++) {
            if (j) mr_buf_push(&text, ", ", 2);
            mr_quote(&text, names[j], strlen(names[j]));
        }
        mr_status status = mr_error(ctx, "%.*s", (int)text.len, (const char *)text.data);
        mr_buf_free(&text);
        return status;
    }
    return MR_OK;
}
