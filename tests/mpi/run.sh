#!/usr/bin/env bash
# tests/mpi/run.sh — `make test-mpi`: the MPI build against the single-process one.
#   1. the dist/ C API on 2 and 3 ranks (build/test_dist api)
#   2. 5 training steps of a small CNN on P = 1, 2, 3 ranks (uneven shards on 3) equal tg train's
#      with the same global batch and seed: bit-identical on 1 rank, within 1e-5 relative otherwise;
#      --check-replicas proves the ranks' parameters bit-identical; rank 0 alone prints;
#      the same for a batch-norm CNN with --sync-bn (and, as a control, not without it)
#   2b. --resume on 3 ranks from a 2-rank checkpoint continues exactly as one process would
#   3. mistakes end every rank with an error line, non-zero, within a bounded time (timeout):
#      ranks with different models, one rank with a bad --data, a batch smaller than the ranks
#   4. the complete example program of docs/distributed.md compiles and runs on 2 ranks
# Needs TG_MPI, TG, TG_TEST_DIST, TG_DIST_OBJ, TG_LIB (set by the Makefile), MPIRUN and MPICC.
set -uo pipefail
: "${TG_MPI:?}" "${TG:?}" "${TG_TEST_DIST:?}" "${TG_DIST_OBJ:?}" "${TG_LIB:?}"
MPIRUN=${MPIRUN:-mpirun}
# every mpirun ends within this many seconds, or the test fails as a hang
LIMIT=${TG_MPI_TIMEOUT:-60}
# --oversubscribe: more ranks than cores (CI has 2)
RUN=("$MPIRUN" --oversubscribe)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# runs "$@" under timeout, stdout to $W/out, stderr to $W/err; rc in $rc
run() {
  timeout "$LIMIT" "$@" >"$W/out" 2>"$W/err"
  rc=$?
  if [ $rc = 124 ]; then echo "  (timed out after ${LIMIT}s: a hang)"; fi
}

"$TG_TEST_DIST" make-data "$W/data" 130 31 || { echo "FAIL make-data"; exit 1; }
cat >"$W/cnn.txt" <<'EOF'
input 1x8x8
conv2d out=4 kernel=3 padding=1
relu
max_pool2d kernel=2 stride=2
flatten
linear out=3
EOF
sed 's/out=4/out=5/' "$W/cnn.txt" >"$W/cnn5.txt"
sed 's/^relu$/batch_norm\nrelu/' "$W/cnn.txt" >"$W/bn.txt"   # conv, BN, relu, pool, linear

# 1. the C API
for p in 2 3; do
  run "${RUN[@]}" -n $p "$TG_TEST_DIST" api
  if [ $rc = 0 ]; then pass "C API on $p ranks"; else fail "C API on $p ranks"; cat "$W/out" "$W/err"; fi
done
# the user's own all-reduce algorithm choice stands (the API test checks it is kept)
OMPI_MCA_coll_libnbc_iallreduce_algorithm=2 run "${RUN[@]}" -n 2 "$TG_TEST_DIST" api
if [ $rc = 0 ]; then pass "C API with the user's iallreduce algorithm"; else fail "C API with the user's iallreduce algorithm"; cat "$W/out" "$W/err"; fi

# 1b. the complete program of docs/distributed.md (the ```c mpi block), compiled and run on 2 ranks
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
awk '/^```c mpi$/ {on = 1; next} /^```/ {on = 0} on' "$ROOT/docs/distributed.md" >"$W/example.c"
if [ -s "$W/example.c" ] && ${MPICC:-mpicc} -std=c11 -Wall -Wextra -Werror -I"$ROOT" -o "$W/example" "$W/example.c" \
  "$TG_DIST_OBJ" "$TG_LIB" -lm -pthread 2>"$W/err"; then
  run "${RUN[@]}" -n 2 "$W/example"
  if [ $rc = 0 ]; then pass "docs/distributed.md example on 2 ranks: $(cat "$W/out")"; else fail "docs example (rc $rc)"; cat "$W/out" "$W/err"; fi
else
  fail "docs/distributed.md example does not compile"; cat "$W/err"
fi

# 2. 5 steps: --limit = 5 batches, one epoch; momentum SGD so a wrong gradient compounds
# MODEL (default cnn) names the spec; EXPECT=differ inverts the comparison (a control)
steps() { # P BATCH EXTRA... : checkpoint $W/p$P-b$BATCH.ckpt against $W/single-b$BATCH.ckpt
  local p=$1 b=$2 model=$W/${MODEL:-cnn}.txt
  shift 2
  local common=(--data "$W/data" --batch "$b" --limit $((5 * b)) --epochs 1 --seed 7 --lr 0.1 --momentum 0.9 "$@")
  local single=("${common[@]}")
  for x in "${!single[@]}"; do [ "${single[$x]}" = --sync-bn ] && unset 'single[x]'; done
  run "$TG" train "$model" "${single[@]}" --save "$W/single-b$b.ckpt"
  [ $rc = 0 ] || { fail "tg train batch $b: rc $rc"; cat "$W/err"; return; }
  run "${RUN[@]}" -n "$p" "$TG_MPI" train "$model" "${common[@]}" --save "$W/p$p-b$b.ckpt" --check-replicas \
    --bucket-mb 0.0002
  local what="${MODEL:-cnn}: $p ranks, batch $b ($*)"
  [ $rc = 0 ] || { fail "$what: rc $rc"; cat "$W/err"; return; }
  [ "$(grep -c '^test_acc' "$W/out")" = 1 ] || { fail "$what: rank 0 alone prints"; cat "$W/out"; return; }
  local tol=1e-5
  [ "$p" = 1 ] && tol=0
  "$TG_TEST_DIST" compare "$model" "$W/single-b$b.ckpt" "$W/p$p-b$b.ckpt" $tol >"$W/cmp" 2>&1
  local same=$?
  if [ "${EXPECT:-}" = differ ]; then
    if [ $same = 1 ]; then pass "$what differs from 1 process, as it must"; else fail "$what: control did not differ"; cat "$W/cmp"; fi
  elif [ $same = 0 ]; then
    pass "$what = 1 process (tolerance $tol): $(cat "$W/cmp")"
  else
    fail "$what"; cat "$W/cmp"
  fi
}
steps 1 12
steps 2 12
steps 3 12
steps 3 13            # shards of 5, 4, 4
steps 2 11 --augment --optim adam --lr 0.01   # odd batch, augmentation drawn from the shared rng
# batch norm: with --sync-bn the global batch's statistics (parameters and running statistics
# compared); without it each rank normalises its own shard, which must differ (the control)
MODEL=bn steps 2 12 --sync-bn
MODEL=bn steps 3 13 --sync-bn
MODEL=bn EXPECT=differ steps 2 12

# 2b. --resume with another P: epoch 1 on 2 ranks, epoch 2 resumed on 3 = tg train's 2 epochs
R=(--data "$W/data" --batch 12 --limit 60 --seed 7 --lr 0.1)
run "$TG" train "$W/cnn.txt" "${R[@]}" --epochs 2 --save "$W/two.ckpt"
run "${RUN[@]}" -n 2 "$TG_MPI" train "$W/cnn.txt" "${R[@]}" --epochs 1 --save "$W/first.ckpt"
[ $rc = 0 ] && run "${RUN[@]}" -n 3 "$TG_MPI" train "$W/cnn.txt" "${R[@]}" --epochs 1 --resume "$W/first.ckpt" \
  --save "$W/second.ckpt"
if [ $rc = 0 ] && "$TG_TEST_DIST" compare "$W/cnn.txt" "$W/two.ckpt" "$W/second.ckpt" 1e-5 >"$W/cmp" 2>&1; then
  pass "--resume on 3 ranks from 2 ranks' checkpoint = 2 epochs of tg train: $(cat "$W/cmp")"
else
  fail "--resume with another P (rc $rc)"; cat "$W/err" "$W/cmp"
fi

# 3. mistakes: an error line from every rank, non-zero, no hang
A=(--batch 12 --limit 60 --epochs 1)
run "${RUN[@]}" -n 1 "$TG_MPI" train "$W/cnn.txt" --data "$W/data" "${A[@]}" : \
  -n 1 "$TG_MPI" train "$W/cnn5.txt" --data "$W/data" "${A[@]}"
if [ $rc != 0 ] && [ $rc != 124 ] && [ "$(grep -c "model differs from rank 0's: entry 1 is parameter '0.weight' \[5,1,3,3\]" "$W/err")" = 2 ]; then
  pass "different models: every rank says so"
else
  fail "different models (rc $rc)"; cat "$W/err"
fi
run "${RUN[@]}" -n 2 "$TG_MPI" train "$W/cnn.txt" --data "$W/data" "${A[@]}" : \
  -n 1 "$TG_MPI" train "$W/cnn.txt" --data "$W/missing" "${A[@]}"
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q '^tg: train (rank 2 of 3): --data: .*missing' "$W/err" &&
  [ "$(grep -c 'rank 2 of 3 failed: --data: ' "$W/err")" = 2 ]; then
  pass "one rank's bad --data: every rank ends with its message"
else
  fail "one rank's bad --data (rc $rc)"; cat "$W/err"
fi
run "${RUN[@]}" -n 3 "$TG_MPI" train "$W/cnn.txt" --data "$W/data" --batch 2 --limit 60
if [ $rc != 0 ] && [ $rc != 124 ] && [ "$(grep -c -- '--batch 2 is smaller than the 3 ranks' "$W/err")" = 3 ]; then
  pass "batch smaller than the ranks"
else
  fail "batch smaller than the ranks (rc $rc)"; cat "$W/err"
fi

if [ $fails = 0 ]; then echo "test-mpi: all passed"; else echo "test-mpi: $fails failed"; fi
[ $fails = 0 ]
