#!/bin/sh
# tests/readme_commands.sh — `make test-readme` (run by .ci/run): every line of README.md's ```sh
# blocks runs as written, in order, in a fresh copy of the repository's tracked files (what a
# clone has: no build/, no runs/), each line in its own shell from the copy's root with HOME set
# to an empty temporary folder. A line fails the test when it exits non-zero.
#
# Lines skipped, each with its reason (printed): the ones in SKIP below, and the lines that need
# the Fashion-MNIST data set when it is not installed and cannot be (not root with apt).
# Environment: README (default README.md), KEEP=1 keeps the copy and prints where it is.
set -eu
cd "$(dirname "$0")/.."
README=${README:-README.md}
DATA=/usr/share/datasets/fashion-mnist
LINE_TIMEOUT=1200   # seconds; `make run` builds and trains two epochs

# skip_reason LINE: prints why LINE is not run here, or nothing.
skip_reason() {
    case $1 in
        "make test"|"make test "*)
            echo "CI runs make test itself (.ci/run), just before this script" ;;
        "make test-asan"*)
            echo "every suite under ASan+UBSan takes longer than CI allows; run before merging (docs/reliability.md)" ;;
        "make mpi"*|"make test-mpi"*)
            echo "CI builds and runs the optional MPI tests itself (.ci/run), as root with the Open MPI opt-in" ;;
        "make bench"*)
            echo "every kernel and model timing takes minutes; the build/tg bench --filter line samples it" ;;
        *"$DATA"*|"make run"*)
            if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ] &&
               { [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; }; then
                echo "needs the Fashion-MNIST data set, not installed and this user cannot install it"
            fi ;;
    esac
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tg-readme.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "readme: keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT INT TERM; fi
clone=$tmp/clone
mkdir -p "$clone" "$tmp/home"
# The tracked files as they are in the working tree (a clone of the current state).
git ls-files | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done > "$tmp/files"
tar -cf - -T "$tmp/files" | (cd "$clone" && tar -xf -)

# Lines of the ```sh blocks, with their README line numbers: "NUMBER<TAB>TEXT".
awk '/^```sh[ \t]*$/ { inblock = 1; next } /^```/ { inblock = 0; next }
     inblock && $0 !~ /^[ \t]*(#|$)/ { printf "%d\t%s\n", NR, $0 }' "$README" > "$tmp/lines"
total=$(wc -l < "$tmp/lines")
[ "$total" -gt 0 ] || { echo "readme: no \`\`\`sh lines found in $README" >&2; exit 1; }

ran=0; skipped=0; failed=0
while IFS="$(printf '\t')" read -r num line; do
    command=$(printf '%s' "$line" | sed 's/[[:space:]]#.*$//; s/[[:space:]]*$//')
    reason=$(skip_reason "$command")
    if [ -n "$reason" ]; then
        echo "readme: skip  $README:$num: $command  ($reason)"
        skipped=$((skipped + 1))
        continue
    fi
    echo "readme: run   $README:$num: $command"
    if (cd "$clone" && HOME="$tmp/home" timeout $LINE_TIMEOUT sh -c "$line") > "$tmp/out" 2>&1 < /dev/null; then
        ran=$((ran + 1))
    else
        rc=$?
        echo "readme: FAIL  $README:$num (exit $rc): $command" >&2
        tail -20 "$tmp/out" | sed 's/^/    /' >&2
        failed=$((failed + 1))
    fi
done < "$tmp/lines"
echo "readme: $ran lines ran, $skipped skipped, $failed failed (of $total)"
[ "$failed" = 0 ]
