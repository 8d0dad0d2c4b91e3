#!/usr/bin/env bash
# tools/bench_mpi.sh — the measurements behind docs/distributed.md's cost model (after `make mpi`):
# all-reduce time per size on P ranks, and training images/s of 1 rank at batch 64 against P ranks
# at batch 64·P (the same work per rank), for LeNet-5 and the BN-ResNet (width 16), and the machine's
# ceiling for that: P independent 1-rank runs at once, P x the slowest one's images/s.
#   tools/bench_mpi.sh [P] [DATA_DIR] [STEPS] [REPS]
set -euo pipefail
P=${1:-2}
DATA=${2:-/usr/share/datasets/fashion-mnist}
STEPS=${3:-200}
REPS=${4:-3}
MPIRUN=(${MPIRUN:-mpirun} --oversubscribe --bind-to none)
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"${MPIRUN[@]}" -n "$P" build/test_dist bench-allreduce
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# 1 rank and P ranks alternate REPS times (a busy machine slows both alike) and each keeps its best
for model in nn/models/lenet5.txt nn/models/resnet_mini16.txt; do
  one=0 rate=0 free=0 extra=""
  for rep in $(seq "$REPS"); do
    r1=$(build/tg train "$model" --data "$DATA" --batch 64 --limit $((64 * STEPS)) --epochs 1 --threads 1 |
      sed -n 's/^train_img_per_s //p')
    many=$("${MPIRUN[@]}" -n "$P" build/tg-mpi train "$model" --data "$DATA" --batch $((64 * P)) \
      --limit $((64 * P * STEPS)) --epochs 1 --threads 1)
    rp=$(sed -n 's/^train_img_per_s //p' <<<"$many")
    # the machine's own ceiling: P independent 1-rank runs at once, paced (as synchronous ranks
    # are) by the slowest of them — P x its rate
    for i in $(seq "$P"); do
      build/tg train "$model" --data "$DATA" --batch 64 --limit $((64 * STEPS)) --epochs 1 --threads 1 \
        >"$TMP/alone.$i" &
    done
    wait
    slow=$(cat "$TMP"/alone.* | sed -n 's/^train_img_per_s //p' | sort -g | head -1)
    if awk "BEGIN{exit !($P * $slow > $free)}"; then free=$(awk "BEGIN{print $P * $slow}"); fi
    if awk "BEGIN{exit !($r1 > $one)}"; then one=$r1; fi
    if awk "BEGIN{exit !($rp > $rate)}"; then
      rate=$rp
      extra=$(grep ^allreduce <<<"$many" | awk '{for (i = 1; i < NF; i += 2) printf ", \"%s\": %s", $i, $(i + 1)}')
    fi
  done
  echo "{\"model\": \"$model\", \"ranks\": $P, \"reps\": $REPS, \"img_per_s_1\": $one, \"img_per_s_P\": $rate, \"speedup\": $(awk "BEGIN{print $rate/$one}"), \"independent_P_img_per_s\": $free, \"ceiling\": $(awk "BEGIN{print $free/$one}")$extra}"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
