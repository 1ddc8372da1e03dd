/* The dedup plugin, natively (guest-sdk/c/test.sh builds and runs it). */
#include <stdio.h>
#include <string.h>

#include "millrace_testing.h"

static char texts[16][64];
static int next_text;

static mr_test_element record(const char *key, int id, int n, int64_t ts) {
    char *value = texts[next_text++ % 16];
    snprintf(value, 64, "{\"event_id\": %d, \"n\": %d}", id, n);
    return (mr_test_element){.value = value, .key = key, .timestamp = ts};
}

static void remembers_ids_per_key_until_the_horizon_passes(void) {
    MR_CHECK(mr_test_start("{\"id\": \"event_id\", \"horizon\": 10000}"));
    mr_test_element first[] = {record("\"a\"", 1, 1, 1000), record("\"a\"", 1, 2, 2000), record("\"b\"", 1, 3, 3000)};
    mr_test_output out = mr_test_process(first, 3);
    MR_CHECK_INT(out.count, 2);
    MR_CHECK_STR(out.records[0].value, "{\"event_id\":1,\"n\":1}");
    MR_CHECK_STR(out.records[1].key, "\"b\"");
    MR_CHECK_INT(mr_test_counter("duplicates"), 1);
    mr_test_element again = record("\"a\"", 1, 4, 5000);
    MR_CHECK_INT(mr_test_process(&again, 1).count, 0); /* still remembered */
    MR_CHECK_INT(mr_test_advance_watermark(11000).count, 0);
    MR_CHECK_INT(mr_test_state_cells(), 2); /* the timer at 11000 is not before 11000 */
    mr_test_advance_watermark(20000);
    MR_CHECK_INT(mr_test_state_cells(), 0); /* forgotten */
    mr_test_element later[] = {record("\"a\"", 1, 5, 20000), record("\"a\"", 2, 6, 20001), record("\"a\"", 2, 7, 20002)};
    out = mr_test_process(later, 3);
    MR_CHECK_INT(out.count, 2);
    MR_CHECK_INT(out.records[1].source, 1);
}

static void state_is_the_rust_plugins_bytes(void) {
    MR_CHECK(mr_test_start("{\"horizon\": 5}"));
    mr_test_element e = {.value = "\"x\"", .key = "\"k\"", .timestamp = -2};
    mr_test_process(&e, 1);
    size_t len = 0;
    const uint8_t *cell = mr_test_state("\"k\"", (mr_window){0, 0}, "seen:\"x\"", &len);
    MR_CHECK(cell && len == 1 && cell[0] == 3); /* -2 as a zigzag varint */
    MR_CHECK_INT(mr_test_timers(), 1);
    /* An object id is named as serde_json writes it: keys sorted, 1e2 as 100.0. */
    MR_CHECK(mr_test_start("{\"horizon\": 5}"));
    mr_test_element o = {.value = "{\"b\": 1e2, \"a\": [true]}", .key = "\"k\""};
    mr_test_process(&o, 1);
    MR_CHECK(mr_test_state("\"k\"", (mr_window){0, 0}, "seen:{\"a\":[true],\"b\":100.0}", NULL) != NULL);
}

static void repeats_may_go_to_a_side_output(void) {
    MR_CHECK(mr_test_start("{\"horizon\": 5, \"repeats\": \"again\"}"));
    mr_test_element twice[] = {{.value = "7"}, {.value = "7"}};
    mr_test_output out = mr_test_process(twice, 2);
    MR_CHECK_INT(out.count, 2);
    MR_CHECK_STR(out.records[0].output, "");
    MR_CHECK_STR(out.records[1].output, "again");
}

static void records_without_the_id_are_dead_lettered(void) {
    MR_CHECK(mr_test_start("{\"id\": \"event_id\", \"horizon\": 10}"));
    mr_test_element bad[] = {{.value = "{\"other\": 1}"}, {.value = "7"}};
    mr_test_output out = mr_test_process(bad, 2);
    MR_CHECK_INT(out.error_count, 2);
    MR_CHECK_STR(out.errors[1].message, "missing the id field \"event_id\"");
    MR_CHECK_INT(mr_test_state_cells(), 0);
}

static void the_horizon_must_be_positive(void) {
    MR_CHECK(!mr_test_start("{\"horizon\": -5}"));
    MR_CHECK_STR(mr_test_error_message(), "config \"horizon\" must be a positive number of milliseconds");
    MR_CHECK(!mr_test_start("{}"));
    MR_CHECK_STR(mr_test_error_message(), "config \"horizon\" is required");
}

int main(void) {
    MR_TEST(remembers_ids_per_key_until_the_horizon_passes);
    MR_TEST(state_is_the_rust_plugins_bytes);
    MR_TEST(repeats_may_go_to_a_side_output);
    MR_TEST(records_without_the_id_are_dead_lettered);
    MR_TEST(the_horizon_must_be_positive);
    return mr_test_report();
}
