/* The sum plugin, natively (guest-sdk/c/test.sh builds and runs it). */
#include <string.h>

#include "millrace_testing.h"

static mr_test_bytes add(mr_test_bytes acc, const char *const *inputs, size_t n, bool retract,
                         mr_test_output *rejected) {
    return mr_test_add(acc, inputs, n, retract, rejected);
}

static void sums_integers_exactly_and_takes_retractions_back(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_output rejected;
    const char *three[] = {"5", "7", "3"};
    mr_test_bytes total = add(mr_test_create(), three, 3, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 0);
    total = add(total, (const char *[]){"3"}, 1, true, NULL);
    MR_CHECK_STR(mr_test_extract(total), "12");
    total = add(total, (const char *[]){"0.5"}, 1, false, NULL);
    MR_CHECK_STR(mr_test_extract(total), "12.5");
}

static void an_input_that_would_overflow_is_refused(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_output rejected;
    mr_test_bytes big = add(mr_test_create(), (const char *[]){"1e308"}, 1, false, NULL);
    mr_test_bytes total = add(big, (const char *[]){"1e308"}, 1, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 1);
    MR_CHECK_STR(rejected.errors[0].message, "sum overflows a 64-bit float");
    MR_CHECK_STR(mr_test_extract(total), "1e308");
    const char *ints[] = {"9223372036854775807", "1", "-5"};
    total = add(mr_test_create(), ints, 3, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 1);
    MR_CHECK_INT(rejected.errors[0].index, 1);
    MR_CHECK_STR(rejected.errors[0].message, "sum overflows a 64-bit integer");
    MR_CHECK_STR(mr_test_extract(total), "9223372036854775802");
}

static void the_bulk_path_keeps_the_checks_of_each_input(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_output rejected;
    const char *near[] = {"9223372036854775797", "5", "20", "-7"};
    mr_test_bytes total = add(mr_test_create(), near, 4, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 1);
    MR_CHECK_INT(rejected.errors[0].index, 2);
    MR_CHECK_STR(mr_test_extract(total), "9223372036854775795");
    static char texts[1000][8];
    const char *many[1000];
    for (int i = 0; i < 1000; i++) {
        char *t = texts[i];
        int v = i, n = 0;
        char tmp[8];
        do {
            tmp[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int j = 0; j < n; j++) t[j] = tmp[n - 1 - j];
        t[n] = 0;
        many[i] = t;
    }
    total = add(mr_test_create(), many, 1000, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 0);
    MR_CHECK_STR(mr_test_extract(total), "499500");
}

static void values_that_are_not_numbers_are_rejected(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_output rejected;
    const char *inputs[] = {"1", "\"lots\"", "true", "null", "2"};
    mr_test_bytes total = add(mr_test_create(), inputs, 5, false, &rejected);
    MR_CHECK_INT(rejected.error_count, 3);
    MR_CHECK_INT(rejected.errors[0].index, 1);
    MR_CHECK_INT(rejected.errors[2].index, 3);
    MR_CHECK_STR(rejected.errors[0].message, "expected a JSON number");
    MR_CHECK_STR(mr_test_extract(total), "3");
}

static void merges_sessions(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_bytes parts[] = {
        add(mr_test_create(), (const char *[]){"1", "2"}, 2, false, NULL),
        add(mr_test_create(), (const char *[]){"0.25"}, 1, false, NULL),
        mr_test_create(),
    };
    MR_CHECK_STR(mr_test_extract(mr_test_merge(parts, 3)), "3.25");
}

static void accumulators_are_the_rust_plugins_bytes(void) {
    MR_CHECK(mr_test_start(NULL));
    MR_CHECK_STR(mr_test_accumulator_format(), "postcard/sum::Total/1");
    MR_CHECK_INT(mr_test_inversion(), MR_INVERSION_SUBTRACT);
    mr_test_bytes fresh = mr_test_create();
    static const uint8_t zeros[10] = {0};
    MR_CHECK(fresh.len == 10 && !memcmp(fresh.data, zeros, 10));
    mr_test_bytes total = add(mr_test_create(), (const char *[]){"-3", "1.5"}, 2, false, NULL);
    /* int -3: zigzag 5; float 1.5 little-endian; fractional 1: zigzag 2 */
    static const uint8_t expected[] = {5, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 2};
    MR_CHECK(total.len == sizeof expected && !memcmp(total.data, expected, sizeof expected));
}

int main(void) {
    MR_TEST(sums_integers_exactly_and_takes_retractions_back);
    MR_TEST(an_input_that_would_overflow_is_refused);
    MR_TEST(the_bulk_path_keeps_the_checks_of_each_input);
    MR_TEST(values_that_are_not_numbers_are_rejected);
    MR_TEST(merges_sessions);
    MR_TEST(accumulators_are_the_rust_plugins_bytes);
    return mr_test_report();
}
