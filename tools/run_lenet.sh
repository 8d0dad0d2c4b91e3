#!/bin/sh
# tools/run_lenet.sh — `make run`: trains the notes' LeNet-5 on Fashion-MNIST and writes
# runs/<name>/: model.ckpt, metrics.csv (per epoch), steps.csv (every LOG_EVERY steps), curves.svg
# (loss every LOG_EVERY steps, accuracy and test loss at each epoch's end), model.dot
# (+ model.svg with Graphviz), filters.png (first-layer filters), train.log.
# Environment: RUN_NAME (default lenet5-<date>), EPOCHS (2), LOG_EVERY (50), DATA (Debian's dataset dir), TG (build/tg),
# TRAIN_ARGS (extra `tg train` options, e.g. "--limit 6400" for a quick look).
set -eu
cd "$(dirname "$0")/.."
TG=${TG:-build/tg}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-2}
LOG_EVERY=${LOG_EVERY:-50}
NAME=${RUN_NAME:-lenet5-$(date +%Y%m%d-%H%M%S)}
MODEL=models/lenet5.txt
OUT=runs/$NAME

has_data() { [ -e "$1/train-images-idx3-ubyte.gz" ] || [ -e "$1/train-images-idx3-ubyte" ]; }
# Set-up: Debian's data set package (and Graphviz for model.svg) when root with apt (tools/deps.sh).
if ! has_data "$DATA"; then
    if [ "$DATA" = /usr/share/datasets/fashion-mnist ]; then
        ./tools/deps.sh --for "make run" fashion-mnist || true
    fi
    if ! has_data "$DATA"; then
        echo "run: Fashion-MNIST not found in $DATA; install it with:" >&2
        echo "    sudo apt-get install -y dataset-fashion-mnist" >&2
        echo "or put the four *-ubyte[.gz] files in a directory and run: DATA=/that/dir make run" >&2
        exit 1
    fi
fi
./tools/deps.sh --optional --for "make run (model.svg)" graphviz

mkdir -p "$OUT"
"$TG" summary "$MODEL" | tee "$OUT/summary.txt"
"$TG" dot "$MODEL" -o "$OUT/model.dot"
if command -v dot >/dev/null 2>&1; then dot -Tsvg "$OUT/model.dot" -o "$OUT/model.svg"; fi

"$TG" train "$MODEL" --data "$DATA" --epochs "$EPOCHS" --batch 64 --lr 0.02 --momentum 0.9 --threads 1 \
    --seed 42 --save "$OUT/model.ckpt" --csv "$OUT/metrics.csv" --step-csv "$OUT/steps.csv" --log-every "$LOG_EVERY" \
    --filters "$OUT/filters.png" ${TRAIN_ARGS:-} | tee "$OUT/train.log"

# curves.svg over the optimizer steps: the train loss every LOG_EVERY steps (steps.csv, left axis),
# and at each epoch's end (metrics.csv's global_step) a dashed marker with the test loss (left) and
# the train and test accuracy (right axis, 0..1)
awk -F, 'FNR == 1 { file++; next }
file == 1 { n++; sx[n] = $3; sl[n] = $4; if ($4 > m) m = $4; if ($3 > last) last = $3 }
file == 2 { k++; e[k] = $1; ex[k] = $11; ta[k] = $3; vl[k] = $4; va[k] = $5; if ($4 > m) m = $4; if ($11 > last) last = $11 }
END {
    W = 640; H = 400; L = 60; R = 60; T = 40; B = 50; pw = W - L - R; ph = H - T - B;
    if (m <= 0) m = 1;
    if (last <= 0) last = 1;
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H;
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n";
    printf "<text x=\"%d\" y=\"24\" font-size=\"15\">LeNet-5 on Fashion-MNIST</text>\n", L;
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw, ph;
    for (j = 0; j <= 4; j++) {
        y = T + ph - j * ph / 4;
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>", L - 5, y + 4, m * j / 4;
        printf "<text x=\"%d\" y=\"%d\">%.2f</text>\n", L + pw + 5, y + 4, j / 4;
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", L + j * pw / 4, T + ph + 18, last * j / 4;
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">optimizer step</text>\n", L + pw / 2, H - 8;
    pts = "";
    for (i = 1; i <= n; i++) pts = pts sprintf("%.1f,%.1f ", L + sx[i] / last * pw, T + ph - sl[i] / m * ph);
    printf "<polyline points=\"%s\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n", pts;
    split("#ff7f0e #2ca02c #d62728", colors, " ");
    for (i = 1; i <= k; i++) {
        x = L + ex[i] / last * pw; X[i] = x;
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n", x, T, x, T + ph;
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" fill=\"#666\">epoch %d</text>\n", x - 3, T + 14, e[i];
    }
    for (s = 1; s <= 3; s++) {
        pts = "";
        for (i = 1; i <= k; i++) {
            if (s == 1 && vl[i] == "") continue;
            y = (s == 1) ? T + ph - vl[i] / m * ph : T + ph - ((s == 2) ? ta[i] : va[i]) * ph;
            pts = pts sprintf("%.1f,%.1f ", X[i], y);
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", X[i], y, colors[s];
        }
        printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, colors[s];
    }
    split("train loss|test loss|train acc|test acc", labels, "|"); split("#1f77b4 #ff7f0e #2ca02c #d62728", lc, " ");
    for (s = 1; s <= 4; s++)
        printf "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", L + 10 + (s - 1) * 120, T + ph + 36, lc[s], labels[s];
    printf "</svg>\n";
}' "$OUT/steps.csv" "$OUT/metrics.csv" > "$OUT/curves.svg"

echo "run: wrote $OUT/ (model.ckpt metrics.csv steps.csv curves.svg model.dot$( [ -e "$OUT/model.svg" ] && echo ' model.svg') filters.png train.log)"
