#!/usr/bin/env bash
# tools/bench_mpi.sh — the measurements behind docs/distributed.md's cost model (after `make mpi`):
# all-reduce time per size on P ranks, and training images/s of 1 rank at batch 64 against P ranks
# at batch 64·P (the same work per rank), for LeNet-5 and the BN-ResNet (width 16).
#   tools/bench_mpi.sh [P] [DATA_DIR] [STEPS]
set -euo pipefail
P=${1:-2}
DATA=${2:-/usr/share/datasets/fashion-mnist}
STEPS=${3:-50}
MPIRUN=(${MPIRUN:-mpirun} --oversubscribe --bind-to none)
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"${MPIRUN[@]}" -n "$P" build/test_dist bench-allreduce
for model in nn/models/lenet5.txt nn/models/resnet_mini16.txt; do
  one=$(build/tg train "$model" --data "$DATA" --batch 64 --limit $((64 * STEPS)) --epochs 1 --threads 1 |
    sed -n 's/^train_img_per_s //p')
  many=$("${MPIRUN[@]}" -n "$P" build/tg-mpi train "$model" --data "$DATA" --batch $((64 * P)) \
    --limit $((64 * P * STEPS)) --epochs 1 --threads 1)
  rate=$(sed -n 's/^train_img_per_s //p' <<<"$many")
  extra=$(grep ^allreduce <<<"$many" | awk '{for (i = 1; i < NF; i += 2) printf ", \"%s\": %s", $i, $(i + 1)}')
  echo "{\"model\": \"$model\", \"ranks\": $P, \"img_per_s_1\": $one, \"img_per_s_P\": $rate, \"speedup\": $(awk "BEGIN{print $rate/$one}")$extra}"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
