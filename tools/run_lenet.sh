#!/bin/sh
# tools/run_lenet.sh — `make run`: trains the notes' LeNet-5 on Fashion-MNIST and writes
# runs/<name>/: model.ckpt, metrics.csv, curves.svg (loss and accuracy per epoch), model.dot
# (+ model.svg with Graphviz), filters.png (first-layer filters), train.log.
# Environment: RUN_NAME (default lenet5-<date>), EPOCHS (2), DATA (Debian's dataset dir), TG (build/tg),
# TRAIN_ARGS (extra `tg train` options, e.g. "--limit 6400" for a quick look).
set -eu
cd "$(dirname "$0")/.."
TG=${TG:-build/tg}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-2}
NAME=${RUN_NAME:-lenet5-$(date +%Y%m%d-%H%M%S)}
MODEL=nn/models/lenet5.txt
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
    --seed 42 --save "$OUT/model.ckpt" --csv "$OUT/metrics.csv" --filters "$OUT/filters.png" ${TRAIN_ARGS:-} | tee "$OUT/train.log"

# curves.svg: train/test loss (left axis) and accuracy (right axis, 0..1) per epoch from metrics.csv
awk -F, 'NR > 1 { n++; e[n] = $1; tl[n] = $2; ta[n] = $3; vl[n] = $4; va[n] = $5; if ($2 > m) m = $2; if ($4 > m) m = $4 }
END {
    W = 640; H = 400; L = 60; R = 60; T = 40; B = 50; pw = W - L - R; ph = H - T - B;
    if (m <= 0) m = 1;
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H;
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n";
    printf "<text x=\"%d\" y=\"24\" font-size=\"15\">LeNet-5 on Fashion-MNIST</text>\n", L;
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw, ph;
    for (k = 0; k <= 4; k++) {
        y = T + ph - k * ph / 4;
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>", L - 5, y + 4, m * k / 4;
        printf "<text x=\"%d\" y=\"%d\">%.2f</text>\n", L + pw + 5, y + 4, k / 4;
    }
    for (i = 1; i <= n; i++) {
        x = (n == 1) ? L + pw / 2 : L + (i - 1) * pw / (n - 1);
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, T + ph + 18, e[i];
        X[i] = x;
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", L + pw / 2, H - 8;
    split("tl vl ta va", names, " "); split("#1f77b4 #ff7f0e #2ca02c #d62728", colors, " ");
    split("train loss|test loss|train acc|test acc", labels, "|");
    for (s = 1; s <= 4; s++) {
        pts = "";
        for (i = 1; i <= n; i++) {
            v = (s == 1) ? tl[i] : (s == 2) ? vl[i] : (s == 3) ? ta[i] : va[i];
            y = (s <= 2) ? T + ph - v / m * ph : T + ph - v * ph;
            pts = pts sprintf("%.1f,%.1f ", X[i], y);
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", X[i], y, colors[s];
        }
        printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, colors[s];
        printf "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", L + 10 + (s - 1) * 120, T + ph + 36, colors[s], labels[s];
    }
    printf "</svg>\n";
}' "$OUT/metrics.csv" > "$OUT/curves.svg"

echo "run: wrote $OUT/ (model.ckpt metrics.csv curves.svg model.dot$( [ -e "$OUT/model.svg" ] && echo ' model.svg') filters.png train.log)"
