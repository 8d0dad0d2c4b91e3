"""PyTorch 1.13 side of `tg bench --filter train` / `--filter infer`: the twin of every zoo model
(models/*.txt), timed the way tools/bench_train.c times tapegrad (run with Debian's /usr/bin/python3).

    /usr/bin/python3 tools/bench_train_torch.py                  # every model, train and infer
    /usr/bin/python3 tools/bench_train_torch.py --case train_bn_resnet --threads 2
    /usr/bin/python3 tools/bench_train_torch.py --list           # the model names (no torch import)
    /usr/bin/python3 tools/bench_train_torch.py --spec my.txt    # a model of your own: train_my, infer_my_b1, _b64

Cases, named as tg bench names them:
  train_<model>      one step of SGD (lr 0.02, momentum 0.9) on a batch of 64 random inputs with
                     random labels: zero_grad, forward, cross-entropy, backward, step (training mode)
  infer_<model>_b1   eval-mode forward under torch.no_grad() at batch 1, and _b64 at batch 64
Timing is tools/torch_timing.py's best_ms (a warm-up call, then the fastest of repeated calls for at
least 0.3 s), with glibc's malloc told to keep freed memory as the other bench scripts do. Each line
is one JSON object like tg bench's, plus params and MACs per image (checked against `tg summary` by
tools/bench_zoo.py)
max_rss_bytes (getrusage: the process's peak so far, so run one case per process for a per-case
figure, as tools/bench_zoo.py does) and import_rss_bytes (resident after `import torch`, before the
model: the libraries' share of max RSS).

The twin is built from the spec text by this file's own reader. Layer kinds: conv1d/2d/3d (out,
kernel, stride, padding, dilation, groups, bias), batch_norm, relu, leaky_relu, elu, sigmoid, tanh,
gelu, max_pool1d/2d/3d and avg_pool1d/2d/3d (kernel, stride, padding), global_avg_pool,
global_max_pool, flatten, linear, dropout, add from=, concat from=, id=. Any other kind or key stops
the script with the line that has it, so a twin is never silently different from the spec.
"""
import argparse
import glob
import json
import math
import os
import resource
import sys

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
TRAIN_BATCH = 64
INFER_BATCHES = (1, 64)
LR, MOMENTUM = 0.02, 0.9


def zoo_names():
    """The zoo: every models/NAME.txt, sorted (the same set `tg bench` compiles in)."""
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(MODELS_DIR, "*.txt")))


def case_names(models=None):
    names = []
    for m in models or zoo_names():
        names.append(f"train_{m}")
        names += [f"infer_{m}_b{b}" for b in INFER_BATCHES]
    return names


def parse_spec(path):
    """[(lineno, kind, {key: value}, id)] and the input shape, from spec text (comments dropped)."""
    layers, in_shape = [], None
    for lineno, raw in enumerate(open(path), 1):
        words = raw.split("#")[0].split()
        if not words:
            continue
        if words[0] == "input":
            in_shape = [int(v) for v in words[1].split("x")]
            continue
        kv = {}
        for w in words[1:]:
            if "=" not in w:
                sys.exit(f"{path}:{lineno}: expected key=value, got '{w}'")
            k, v = w.split("=", 1)
            kv[k] = v
        layers.append((lineno, words[0], kv, kv.pop("id", None)))
    if in_shape is None:
        sys.exit(f"{path}: no 'input' line")
    return in_shape, layers


def build_twin(path):
    import torch
    import torch.nn as nn

    def ints(kv, key, dims, default):
        v = kv.pop(key, None)
        if v is None:
            return default
        t = tuple(int(x) for x in v.split(","))
        return t * dims if len(t) == 1 else t

    def flag(kv, key, default):
        return kv.pop(key, "1" if default else "0") == "1"

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.in_shape, spec = parse_spec(path)
            self.mods, self.plan, self.macs = nn.ModuleList(), [], 0
            shape = list(self.in_shape)
            for lineno, kind, kv, ident in spec:
                where = f"{path}:{lineno}: {kind}"
                dims = len(shape) - 1
                c, m = shape[0], None
                if kind in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
                    d = int(kind[-2])
                    if d != dims:
                        sys.exit(f"{where}: input has {dims} spatial dims")
                    out = int(kv.pop("out"))
                    k = ints(kv, "kernel", d, None)
                    common = dict(stride=ints(kv, "stride", d, 1), padding=ints(kv, "padding", d, 0),
                                  dilation=ints(kv, "dilation", d, 1), groups=int(kv.pop("groups", 1)),
                                  bias=flag(kv, "bias", True), padding_mode=kv.pop("padding_mode", "zeros"))
                    if kind.startswith("conv_transpose"):
                        conv = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[d - 1]
                        m = conv(c, out, k, output_padding=ints(kv, "output_padding", d, 0), **common)
                    else:
                        m = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[d - 1](c, out, k, **common)
                elif kind == "batch_norm":
                    bn = (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims]
                    m = bn(c, eps=float(kv.pop("eps", 1e-5)), momentum=float(kv.pop("momentum", 0.1)),
                           affine=flag(kv, "affine", True), track_running_stats=flag(kv, "track_running_stats", True))
                elif kind == "instance_norm":
                    inorm = (nn.InstanceNorm1d, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[dims]
                    m = inorm(c, eps=float(kv.pop("eps", 1e-5)), momentum=float(kv.pop("momentum", 0.1)),
                              affine=flag(kv, "affine", False),
                              track_running_stats=flag(kv, "track_running_stats", False))
                elif kind == "group_norm":
                    m = nn.GroupNorm(int(kv.pop("groups")), c, eps=float(kv.pop("eps", 1e-5)),
                                     affine=flag(kv, "affine", True))
                elif kind == "layer_norm":
                    ns = kv.pop("normalized_shape", None)
                    ns = shape if ns is None else [int(x) for x in ns.split(",")]
                    m = nn.LayerNorm(ns, eps=float(kv.pop("eps", 1e-5)), elementwise_affine=flag(kv, "elementwise_affine", True))
                elif kind in ("relu", "sigmoid", "tanh", "gelu", "elu"):
                    m = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}[kind]()
                elif kind == "leaky_relu":
                    m = nn.LeakyReLU(float(kv.pop("slope", 0.01)))
                elif kind[:-2] in ("max_pool", "avg_pool") and kind[-2:] in ("1d", "2d", "3d"):
                    d = int(kind[-2])
                    pool = {"max": (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
                            "avg": (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)}[kind[:3]][d - 1]
                    k = ints(kv, "kernel", d, None)
                    extra = dict(ceil_mode=flag(kv, "ceil_mode", False))
                    if kind.startswith("max"):
                        extra["dilation"] = ints(kv, "dilation", d, 1)
                    else:
                        extra["count_include_pad"] = flag(kv, "count_include_pad", True)
                    m = pool(k, stride=ints(kv, "stride", d, k), padding=ints(kv, "padding", d, 0), **extra)
                elif kind in ("global_avg_pool", "global_max_pool"):
                    ada = {"avg": (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d),
                           "max": (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)}[kind[7:10]]
                    m = ada[dims - 1](1)
                elif kind == "flatten":
                    m = nn.Flatten()
                elif kind == "linear":
                    m = nn.Linear(shape[-1], int(kv.pop("out")), bias=flag(kv, "bias", True))
                elif kind == "dropout":
                    m = nn.Dropout(float(kv.pop("p", 0.5)))
                elif kind in ("add", "concat"):
                    pass
                else:
                    sys.exit(f"{where}: no PyTorch twin for this layer kind")
                frm = kv.pop("from", None)
                if kv:
                    sys.exit(f"{where}: no PyTorch twin for the key(s) {', '.join(sorted(kv))}")
                if kind in ("add", "concat") and frm is None:
                    sys.exit(f"{where}: needs from=")
                self.plan.append((kind, frm, ident, len(self.mods) if m is not None else -1))
                if m is not None:
                    self.mods.append(m)
                in_spatial = shape[1:]
                was = self.training
                self.eval()
                with torch.no_grad():
                    shape = list(self(torch.zeros(2, *self.in_shape)).shape[1:])
                self.train(was)
                # MACs per sample as tg summary counts them: per output value, one weight row (conv);
                # every weight once (linear)
                if kind.startswith("conv_transpose"):  # every weight once per input position
                    self.macs += m.weight.numel() * math.prod(in_spatial)
                elif kind.startswith("conv"):
                    self.macs += m.weight[0].numel() * math.prod(shape)
                elif kind == "linear":
                    self.macs += m.weight.numel()

        def forward(self, x):
            saved = {"input": x}
            for kind, frm, ident, mi in self.plan:
                if kind == "add":
                    x = x + saved[frm]
                elif kind == "concat":
                    x = torch.cat([x if f == "." else saved[f] for f in frm.split(",")], 1)
                else:
                    x = self.mods[mi](x)
                if ident:
                    saved[ident] = x
            return x

    return Twin()


def current_rss_bytes():
    """Resident bytes now (/proc/self/statm), 0 where there is no /proc."""
    try:
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def spec_name(path):
    """The case name of a spec file: its file name without .txt (as `tg bench --model` names it)."""
    base = os.path.basename(path)
    return base[:-4] if base.endswith(".txt") else base


def run_case(case, threads, spec=None, seconds=0.3):
    from torch_timing import best_ms  # first: it re-executes the script with malloc kept

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    import_rss = current_rss_bytes()
    kind, rest = case.split("_", 1)
    if kind == "train":
        model, batch = rest, TRAIN_BATCH
    else:
        model, b = rest.rsplit("_b", 1)
        batch = int(b)
    net = build_twin(spec if spec else os.path.join(MODELS_DIR, model + ".txt"))
    x = torch.randn(batch, *net.in_shape)
    with torch.no_grad():
        classes = net.eval()(x[:1]).shape[-1]
    y = torch.randint(0, classes, (batch,))
    if kind == "train":
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    else:
        net.eval()

        def step():
            with torch.no_grad():
                net(x)
    ms = best_ms(step, budget=seconds)
    print(json.dumps({"name": case, "shape": "x".join(str(d) for d in x.shape), "ms": round(ms, 4),
                      "img_per_s": round(batch / (ms / 1e3), 1), "threads": torch.get_num_threads(),
                      "params": sum(p.numel() for p in net.parameters()), "macs": net.macs,
                      "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "import_rss_bytes": import_rss,
                      "impl": f"torch {torch.__version__}"}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="print the zoo's model names, one a line, and stop")
    ap.add_argument("--case", action="append", help="run only this case (repeatable); default: all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--spec", metavar="FILE", help="the cases of this model spec instead of the zoo's")
    ap.add_argument("--seconds", type=float, default=0.3,
                    help="time each case for at least this long (as tg bench --seconds)")
    a = ap.parse_args()
    if a.list:
        print("\n".join(zoo_names()))
        return
    known = case_names([spec_name(a.spec)] if a.spec else None)
    for case in a.case or known:
        if case not in known:
            sys.exit(f"bench_train_torch: unknown case '{case}' (cases: {' '.join(known)})")
        run_case(case, a.threads, a.spec, a.seconds)


if __name__ == "__main__":
    main()
