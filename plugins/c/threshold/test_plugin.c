/* The threshold plugin, natively (guest-sdk/c/test.sh builds and runs it). */
#include "millrace_testing.h"

#define GLOBAL ((mr_window){0, 0})

static void fires_on_each_crossing_from_below(void) {
    MR_CHECK(mr_test_start("{\"threshold\": 10}"));
    MR_CHECK(!mr_test_on_elements(GLOBAL, (const char *[]){"3", "9"}, 2));
    MR_CHECK(mr_test_on_elements(GLOBAL, (const char *[]){"12"}, 1));
    MR_CHECK(!mr_test_on_elements(GLOBAL, (const char *[]){"15"}, 1)); /* still above */
    MR_CHECK(mr_test_on_elements(GLOBAL, (const char *[]){"2", "11"}, 2));
    size_t len = 0;
    const uint8_t *state = mr_test_trigger_state(GLOBAL, &len);
    MR_CHECK(state && len == 1 && state[0] == 1); /* the Rust plugin's bytes: a postcard bool */
}

static void reads_a_field_and_skips_what_is_no_number(void) {
    MR_CHECK(mr_test_start("{\"threshold\": 100, \"field\": \"latency\"}"));
    mr_window window = {0, 60000};
    const char *mixed[] = {"{\"latency\": 50}", "{\"other\": 500}", "{\"latency\": true}"};
    MR_CHECK(!mr_test_on_elements(window, mixed, 3));
    MR_CHECK(mr_test_on_elements(window, (const char *[]){"{\"latency\": 150}"}, 1));
    /* each window has its own state */
    MR_CHECK(mr_test_on_elements(GLOBAL, (const char *[]){"{\"latency\": 150}"}, 1));
}

static void the_threshold_is_required(void) {
    MR_CHECK(!mr_test_start("{}"));
    MR_CHECK_STR(mr_test_error_message(), "config \"threshold\" is required");
}

int main(void) {
    MR_TEST(fires_on_each_crossing_from_below);
    MR_TEST(reads_a_field_and_skips_what_is_no_number);
    MR_TEST(the_threshold_is_required);
    return mr_test_report();
}
