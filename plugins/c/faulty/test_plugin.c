/* The faulty plugin, natively: the faults that stay errors, and a flood in full (the
 * others, panic, loop and bomb, are for the host to contain). */
#include <string.h>

#include "millrace_testing.h"

static void only_the_poison_element_is_dead_lettered(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_element batch[] = {
        {.value = "1"}, {.value = "{\"fault\": \"error\"}"}, {.value = "2"}, {.value = "{\"other\": 3}"},
    };
    mr_test_output out = mr_test_process(batch, 4);
    MR_CHECK_INT(out.count, 3);
    MR_CHECK_STR(out.records[0].value, "1");
    MR_CHECK_STR(out.records[1].value, "2");
    MR_CHECK_STR(out.records[2].value, "{\"other\":3}");
    MR_CHECK_INT(out.records[2].source, 3);
    MR_CHECK_INT(out.error_count, 1);
    MR_CHECK_INT(out.errors[0].index, 1);
    MR_CHECK_STR(out.errors[0].message, "this record is refused on purpose");
}

static void a_flood_is_emitted_in_full(void) {
    MR_CHECK(mr_test_start(NULL));
    mr_test_element flood = {.value = "{\"fault\": \"flood\"}"};
    mr_test_output out = mr_test_process(&flood, 1);
    size_t total = 0;
    for (size_t i = 0; i < out.count; i++) total += strlen(out.records[i].value) - 2;
    MR_CHECK_INT(out.count, 8);
    MR_CHECK_INT(total, 8 << 20);
}

int main(void) {
    MR_TEST(only_the_poison_element_is_dead_lettered);
    MR_TEST(a_flood_is_emitted_in_full);
    return mr_test_report();
}
