#!/bin/sh
# Builds the libFuzzer targets under fuzz/ with clang (ASan + UBSan) and runs
# each for FUZZ_SECONDS (default 60) from its seed corpus. Exits non-zero on
# any finding (libFuzzer leaves crash-* files in build/fuzz/). Needs clang and
# libclang-rt-14-dev.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"tl transport auth session proxy seal"}
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
mkdir -p "$OUT"
rm -f "$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* "$OUT"/oom-*
make -s build/gen/schema_data.c >/dev/null
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 \
 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Isrc -Ifuzz -I/usr/include/lua5.4 -DFUZZ_DIR=\"$PWD/fuzz\""
CORE="$(ls src/mt_*.c) build/gen/schema_data.c"
for t in $TARGETS; do
    extra=""
    [ "$t" = tl ] && extra="$(ls src/l*.c) -llua5.4 -lm"
    # shellcheck disable=SC2086
    $CC $FLAGS -o "$OUT/fuzz_$t" "fuzz/fuzz_$t.c" $CORE $extra -lcrypto -lz
done
for t in $TARGETS; do
    seeds="fuzz/corpus/$t"
    work="$OUT/corpus-$t"
    mkdir -p "$work" "$seeds"
    if [ "$t" = auth ] && [ -z "$(ls "$seeds")" ]; then
        printf x > "$OUT/one-byte"
        FUZZ_AUTH_SEEDS="$seeds" "$OUT/fuzz_auth" "$OUT/one-byte" >/dev/null 2>&1 || true
    fi
    echo "fuzz_$t: ${SECONDS_EACH}s"
    (cd "$OUT" && ./"fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "corpus-$t" "../../$seeds" 2>&1 | tail -n 12)
    # libFuzzer's exit status is lost in the pipe: a finding leaves an artifact
    found=$(find "$OUT" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
    if [ -n "$found" ]; then
        echo "fuzz_$t: FINDING: $found" >&2
        exit 1
    fi
done
echo "fuzz: all targets ran clean"
