#!/usr/bin/env bash
# tools/bench_scaling.sh — thread and rank scaling on a many-core machine (docs/threads.md,
# docs/distributed.md), after `make tg mpi build/test_dist`:
#   threads: `tg bench --filter train --threads T` for T = 1, 2, 4, ... up to the cores, and the
#            PyTorch twin at the same counts (when $PYTHON imports torch);
#   ranks:   all-reduce time per size on P ranks; LeNet-5 and the BN-ResNet trained by P ranks
#            of one thread at 64 images per rank, and the machine's ceiling for that work
#            (N independent one-thread runs at once: synchronous ranks go at the slowest's pace);
#   mixes:   P ranks x T threads = the cores, at one global batch of 512.
# One JSON line per measurement.
#   tools/bench_scaling.sh [DATA_DIR] [CORES] [STEPS]
set -uo pipefail
DATA=${1:-/usr/share/datasets/fashion-mnist}
CORES=${2:-$(nproc)}
STEPS=${3:-20}
PYTHON=${PYTHON:-python3}
B=${B:-build}
MPI=(${MPIRUN:-mpirun} --oversubscribe --bind-to none)
counts=""; for ((n = 1; n <= CORES; n *= 2)); do counts="$counts $n"; done
rate() { sed -n 's/^train_img_per_s //p'; }
tail_ar() { grep ^allreduce | tr -d '\n'; }
echo "# $(date -u +%FT%TZ) $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)), load $(cut -d' ' -f1-3 /proc/loadavg); counts:$counts"
for T in $counts; do timeout 300 "$B/tg" bench --filter train_ --threads "$T" --seconds 0.5; done
if "$PYTHON" -c 'import torch' 2>/dev/null; then
  for T in $counts; do
    timeout 300 "$PYTHON" tools/bench_train_torch.py --threads "$T" --case train_lenet5 --case train_bn_resnet \
      --case train_vgg_bn --case train_separable
  done
fi
for P in $counts; do [ "$P" -gt 1 ] && timeout 120 "${MPI[@]}" -n "$P" "$B/test_dist" bench-allreduce; done
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
for m in lenet5 bn_resnet; do
  for P in $counts; do
    out=$(timeout 300 "${MPI[@]}" -n "$P" "$B/tg-mpi" train "models/$m.txt" --data "$DATA" --batch $((64 * P)) \
      --limit $((64 * P * STEPS)) --epochs 1 --threads 1)
    echo "{\"model\":\"$m\",\"ranks\":$P,\"threads\":1,\"global_batch\":$((64 * P)),\"img_per_s\":$(rate <<<"$out"),\"allreduce\":\"$(tail_ar <<<"$out")\"}"
  done
  for i in $(seq "$CORES"); do
    timeout 300 "$B/tg" train "models/$m.txt" --data "$DATA" --batch 64 --limit $((64 * STEPS)) --epochs 1 --threads 1 \
      >"$TMP/alone.$i" &
  done
  wait
  echo "{\"model\":\"$m\",\"independent_runs\":$CORES,\"img_per_s\":[$(cat "$TMP"/alone.* | rate | sort -g | paste -sd,)]}"
done
for m in lenet5 bn_resnet; do
  for P in $counts; do
    T=$((CORES / P))
    out=$(timeout 300 "${MPI[@]}" -n "$P" "$B/tg-mpi" train "models/$m.txt" --data "$DATA" --batch 512 \
      --limit $((512 * STEPS)) --epochs 1 --threads "$T")
    echo "{\"model\":\"$m\",\"ranks\":$P,\"threads\":$T,\"global_batch\":512,\"img_per_s\":$(rate <<<"$out"),\"allreduce\":\"$(tail_ar <<<"$out")\"}"
  done
done
