#!/usr/bin/env bash
# Runs the C SDK's tests natively (no WebAssembly): the SDK's own (tests/*.c, each a
# program with its own plugin) and the test_plugin.c of every folder of plugins/c/,
# or of the folders given. Each test program is compiled with the machine's C
# compiler against the SDK and its fake host (src/testing.c), with AddressSanitizer
# and UBSan when the compiler has them, into a temporary folder.
#
#   guest-sdk/c/test.sh [PLUGIN_DIR...]
#
# First it checks that the committed bindings (bindings/) were generated from the
# WIT as it is. Environment: CC (else cc), MILLRACE_WIT (else the repository's wit/),
# MILLRACE_C_SANITIZE=0 (no sanitizers). Exits 1 if anything fails.
set -euo pipefail

die() {
    echo "test.sh: $*" >&2
    exit 1
}

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk/../.." && pwd)
wit=${MILLRACE_WIT:-$root/wit}

recorded=$(sed -n 's/^wit-sha256: //p' "$sdk/bindings/GENERATED" 2>/dev/null || true)
actual=$(sha256sum "$wit/millrace.wit" | cut -d' ' -f1)
if [ "$recorded" != "$actual" ]; then
    die "the C bindings are stale: $wit/millrace.wit has sha256 $actual,
test.sh: the bindings in guest-sdk/c/bindings were generated from ${recorded:-an unknown WIT}:
test.sh: regenerate with guest-sdk/c/bindgen.sh"
fi
for kind in dofn combine window trigger; do
    [ -f "$sdk/bindings/$kind/${kind}_plugin.c" ] || die "guest-sdk/c/bindings/$kind is missing: regenerate with guest-sdk/c/bindgen.sh"
done

cc=${CC:-cc}
command -v "$cc" >/dev/null || die "no C compiler ($cc): install gcc or clang, or set CC"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers)
if [ "${MILLRACE_C_SANITIZE:-1}" != 0 ] &&
    echo 'int main(void){return 0;}' | "$cc" -fsanitize=address,undefined -x c - -o "$work/probe" 2>/dev/null; then
    flags+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
fi
# The SDK is compiled once, in parallel, and linked into each program.
sdk_objects=()
pids=()
for file in "$sdk"/src/{core,json,config,postcard,run,testing}.c; do
    object="$work/sdk_$(basename "$file" .c).o"
    "$cc" "${flags[@]}" -I"$sdk/include" -I"$sdk/src" -c "$file" -o "$object" 2>"$object.log" &
    pids+=($!)
    sdk_objects+=("$object")
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { cat "${sdk_objects[$i]}.log" >&2; die "the SDK does not compile (above)"; }
done

passed=0
failed=0
programs_failed=()

# run NAME SOURCE...: compiles the sources with the SDK into one program and runs it.
run() {
    local name=$1
    shift
    local exe="$work/${name//\//_}"
    echo "== $name"
    if ! "$cc" "${flags[@]}" -I"$sdk/include" -I"$sdk/src" "$@" "${sdk_objects[@]}" -lm -o "$exe" 2>"$work/cc.log"; then
        cat "$work/cc.log" >&2
        echo "FAIL $name: it does not compile (above)"
        failed=$((failed + 1))
        programs_failed+=("$name")
        return
    fi
    local log="$work/run.log"
    local status=0
    (cd "$work" && "$exe") >"$log" 2>&1 || status=$?
    cat "$log"
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    fi
    if [ "$status" != 0 ] || [ -z "$line" ]; then
        [ -n "$line" ] && [ "$(echo "$line" | cut -d' ' -f3)" != 0 ] || failed=$((failed + 1))
        programs_failed+=("$name")
    fi
}

plugin_sources() {
    local dir=$1
    for file in "$dir"/*.c; do
        case $(basename "$file") in
        test_*.c) ;;
        *) echo "$file" ;;
        esac
    done
}

shopt -s nullglob
if [ $# -eq 0 ]; then
    for test in "$sdk"/tests/*.c; do
        run "guest-sdk/c/tests/$(basename "$test")" "$test"
    done
    set -- "$root"/plugins/c/*/
fi
for dir in "$@"; do
    dir=${dir%/}
    [ -f "$dir/plugin.c" ] || die "$dir has no plugin.c"
    [ -f "$dir/test_plugin.c" ] || die "$dir has no test_plugin.c"
    mapfile -t sources < <(plugin_sources "$dir")
    run "$dir" -I"$dir" "${sources[@]}" "$dir/test_plugin.c"
done

echo "total: $passed passed, $failed failed"
if [ ${#programs_failed[@]} -gt 0 ]; then
    echo "test.sh: failed: ${programs_failed[*]}" >&2
    exit 1
fi
