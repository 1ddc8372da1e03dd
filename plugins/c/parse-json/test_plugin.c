/* The parse-json plugin, natively (guest-sdk/c/test.sh builds and runs it). */
#include <string.h>

#include "millrace_testing.h"

#define CONFIG "{\"key\": \"user\", \"value\": \"score\", \"where\": {\"type\": \"score\"}}"

static mr_test_output run_one(const char *value, const char *config) {
    MR_CHECK(mr_test_start(config));
    mr_test_element e = {.value = value, .timestamp = 5};
    return mr_test_process(&e, 1);
}

static void parses_filters_and_rekeys(void) {
    mr_test_output out = run_one("\"{\\\"type\\\":\\\"score\\\",\\\"user\\\":\\\"ann\\\",\\\"score\\\":3}\"", CONFIG);
    MR_CHECK_INT(out.count, 1);
    MR_CHECK_STR(out.records[0].key, "\"ann\"");
    MR_CHECK_STR(out.records[0].value, "3");
    MR_CHECK_INT(out.records[0].timestamp, 5);
    out = run_one("{\"type\": \"login\", \"user\": \"ann\"}", CONFIG);
    MR_CHECK_INT(out.count + out.error_count, 0);
}

static void bad_records_are_dead_lettered_with_the_reason(void) {
    mr_test_output out = run_one("\"{oops\"", CONFIG);
    MR_CHECK_INT(out.error_count, 1);
    MR_CHECK_STR(out.errors[0].message, "not valid JSON: key must be a string at line 1 column 2");
    out = run_one("{\"type\": \"score\", \"score\": 1}", CONFIG);
    MR_CHECK_STR(out.errors[0].message, "missing the key field \"user\"");
    out = run_one("\"[1]\"", CONFIG);
    MR_CHECK_STR(out.errors[0].message, "expected a JSON object");
    out = run_one("\"NaN\"", "{}");
    MR_CHECK_STR(out.errors[0].message, "not valid JSON: expected value at line 1 column 1");
}

static void the_others_of_a_batch_carry_on(void) {
    MR_CHECK(mr_test_start("{\"key\": \"user\"}"));
    mr_test_element batch[] = {
        {.value = "{\"user\": \"ann\"}"}, {.value = "\"{\"", .timestamp = 2}, {.value = "{\"user\": \"bo\"}"},
    };
    mr_test_output out = mr_test_process(batch, 3);
    MR_CHECK_INT(out.count, 2);
    MR_CHECK_INT(out.records[1].source, 2);
    MR_CHECK_STR(out.records[1].key, "\"bo\"");
    MR_CHECK_INT(out.error_count, 1);
    MR_CHECK_INT(out.errors[0].index, 1);
    MR_CHECK_STR(out.errors[0].message, "not valid JSON: EOF while parsing an object at line 1 column 1");
}

static void the_filter_compares_json_values_strictly(void) {
    const char *config = "{\"where\": {\"n\": 1}}";
    MR_CHECK_INT(run_one("{\"n\": 1}", config).count, 1);
    MR_CHECK_INT(run_one("{\"n\": true}", config).count, 0);
    MR_CHECK_INT(run_one("{\"n\": 1.0}", config).count, 0);
}

static void dotted_paths_and_event_times(void) {
    const char *config = "{\"key\": \"who.name\", \"timestamp\": \"at\"}";
    mr_test_output out = run_one("{\"who\": {\"name\": \"bo\"}, \"at\": 42}", config);
    MR_CHECK_STR(out.records[0].key, "\"bo\"");
    MR_CHECK_INT(out.records[0].timestamp, 42);
    out = run_one("{\"who\": {\"name\": \"bo\"}, \"at\": 4.5}", config);
    MR_CHECK_STR(out.errors[0].message, "missing the integer time field \"at\"");
}

static void unknown_settings_are_refused(void) {
    MR_CHECK(!mr_test_start("{\"kee\": \"user\"}"));
    MR_CHECK_STR(mr_test_error_message(),
                 "config: unknown setting \"kee\", expected one of \"key\", \"value\", \"timestamp\", \"where\"");
    MR_CHECK(!mr_test_start("{\"where\": 3}"));
    MR_CHECK_STR(mr_test_error_message(), "config \"where\": expected a map, got an integer");
}

int main(void) {
    MR_TEST(parses_filters_and_rekeys);
    MR_TEST(bad_records_are_dead_lettered_with_the_reason);
    MR_TEST(the_others_of_a_batch_carry_on);
    MR_TEST(the_filter_compares_json_values_strictly);
    MR_TEST(dotted_paths_and_event_times);
    MR_TEST(unknown_settings_are_refused);
    return mr_test_report();
}
