/* Sums numbers. Integers stay integers (as the built-in `sum` does); retractions are
 * subtracted, so the plugin works downstream of retracting steps.
 *
 * The C twin of plugins/sum: the same outputs, and the same accumulator bytes and
 * format ("postcard/sum::Total/1"), so the host may hot-swap one for the other. */
#include <float.h>
#include <math.h>

#include "millrace.h"

/* The Rust plugin's `struct Total { int: i128, float: f64, fractional: i64 }`. */
typedef struct {
    __int128 exact;     /* the sum of the integer inputs */
    double approx;      /* the sum of the fractional inputs */
    int64_t fractions;  /* net number of fractional inputs: an integer output when 0 */
} total_t;

static mr_status encode(mr_ctx *ctx, const void *value, mr_buf *out) {
    const total_t *t = value;
    mr_postcard_i128(out, t->exact);
    mr_postcard_f64(out, t->approx);
    mr_postcard_i64(out, t->fractions);
    return MR_OK;
}

static mr_status decode(mr_ctx *ctx, const uint8_t *data, size_t len, void *value) {
    total_t *t = value;
    mr_reader r = mr_reader_of(data, len);
    t->exact = mr_read_i128(&r);
    t->approx = mr_read_f64(&r);
    t->fractions = mr_read_i64(&r);
    return mr_reader_done(&r) ? MR_OK : mr_error(ctx, "not a sum::Total");
}

/* Field by field as Rust's postcard lays out the struct, named as the Rust SDK names
 * it: the host sees "postcard/sum::Total/1". */
static const mr_codec TOTAL = {"postcard/sum::Total", sizeof(total_t), encode, decode};

static bool fits_i64(__int128 v) { return v >= INT64_MIN && v <= INT64_MAX; }

/* total + sign x value; refuses (changing nothing) a total that would no longer be a
 * 64-bit number: an overflow is the element's fault, never a silent 0 or null. */
static mr_status add(mr_ctx *ctx, total_t *total, const mr_json *value, int sign) {
    if (!mr_json_is_number(value)) return mr_error(ctx, "expected a JSON number");
    total_t next = *total;
    if (mr_json_is_int(value)) {
        next.exact += (__int128)mr_json_int(value) * sign;
    } else {
        next.approx += mr_json_double(value) * sign;
        next.fractions += sign;
    }
    if (next.fractions == 0) {
        if (!fits_i64(next.exact)) return mr_error(ctx, "sum overflows a 64-bit integer");
    } else if (!isfinite((double)next.exact + next.approx)) {
        return mr_error(ctx, "sum overflows a 64-bit float");
    }
    *total = next;
    return MR_OK;
}

static mr_status add_input(mr_ctx *ctx, void *acc, const mr_json *input) {
    return add(ctx, acc, input, 1);
}

static mr_status uncombine(mr_ctx *ctx, void *acc, const mr_json *input) {
    return add(ctx, acc, input, -1);
}

/* The bulk path: integers added at once while the total stays in 64 bits; anything
 * else sends the group input by input through add_input (an error here is silent). */
static mr_status add_inputs(mr_ctx *ctx, void *acc, const mr_json *const *inputs, size_t count) {
    total_t *total = acc;
    if (total->fractions != 0) return MR_ERROR;
    __int128 exact = total->exact;
    for (size_t i = 0; i < count; i++) {
        if (!mr_json_is_int(inputs[i])) return MR_ERROR;
        exact += mr_json_int(inputs[i]);
        if (!fits_i64(exact)) return MR_ERROR;
    }
    total->exact = exact;
    return MR_OK;
}

static mr_status merge(mr_ctx *ctx, void *acc, const void *other) {
    total_t *total = acc;
    const total_t *more = other;
    /* i128 saturating addition, as Rust's saturating_add */
    const __int128 max = (__int128)(((unsigned __int128)1 << 127) - 1), min = -max - 1;
    if (more->exact > 0 && total->exact > max - more->exact) {
        total->exact = max;
    } else if (more->exact < 0 && total->exact < min - more->exact) {
        total->exact = min;
    } else {
        total->exact += more->exact;
    }
    total->approx += more->approx;
    total->fractions += more->fractions;
    return MR_OK;
}

static mr_status extract(mr_ctx *ctx, const void *acc, const mr_json **out) {
    const total_t *total = acc;
    if (total->fractions == 0 && fits_i64(total->exact)) {
        *out = mr_json_new_int(ctx, (int64_t)total->exact);
        return MR_OK;
    }
    /* Only merged windows can pass 64 bits (each input was checked); they saturate
     * at the largest float. */
    double sum = (double)total->exact + total->approx;
    if (isnan(sum)) {
        *out = mr_json_new_int(ctx, 0);
        return MR_OK;
    }
    *out = mr_json_new_double(ctx, sum > DBL_MAX ? DBL_MAX : sum < -DBL_MAX ? -DBL_MAX : sum);
    return MR_OK;
}

MILLRACE_COMBINE(.accumulator_codec = &TOTAL, .accumulator_format = "1",
                 .inversion = MR_INVERSION_SUBTRACT, .add_input = add_input,
                 .add_inputs = add_inputs, .uncombine = uncombine, .merge_accumulators = merge,
                 .extract_output = extract);
