#!/bin/sh
# tools/deps.sh — the set-up step of the make targets: makes sure what a target needs is present.
#
#   tools/deps.sh --for "make test" check pkg-config           # required: exit 1 when it cannot be had
#   tools/deps.sh --optional --for "make run" graphviz         # optional: a note, exit 0
#
# For each missing requirement it installs its Debian package when running as root with apt-get
# (one `apt-get update` first, as a fresh machine has no package lists); otherwise it prints the one
# command to run and, for a required one, exits 1. TG_NO_APT=1 never runs apt-get (prints instead).
# Requirements (probe -> Debian package):
#   cc             a C compiler (cc, or $CC)              build-essential
#   check          <check.h> compiles                      check
#   pkg-config     pkg-config on PATH                      pkg-config
#   graphviz       dot on PATH                             graphviz
#   clang          clang on PATH                           clang
#   onnx           import onnx in $PYTHON (/usr/bin/python3)  python3-onnx
#   mpi            mpicc and mpirun on PATH                openmpi-bin libopenmpi-dev
#   fashion-mnist  /usr/share/datasets/fashion-mnist       dataset-fashion-mnist
set -eu

usage() { echo "usage: tools/deps.sh [--optional] [--for WHAT] NAME..." >&2; exit 2; }
optional=0
what="make"
while [ $# -gt 0 ]; do
    case $1 in
        --optional) optional=1; shift ;;
        --for) [ $# -ge 2 ] || usage; what=$2; shift 2 ;;
        --*) usage ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || usage

# present NAME: exit status 0 when the requirement is already met.
present() {
    case $1 in
        cc) command -v "${CC:-cc}" >/dev/null 2>&1 ;;
        check) printf '#include <check.h>\nint main(void){return 0;}\n' |
                   "${CC:-cc}" -x c -fsyntax-only - >/dev/null 2>&1 ;;
        pkg-config) command -v pkg-config >/dev/null 2>&1 ;;
        graphviz) command -v dot >/dev/null 2>&1 ;;
        clang) command -v clang >/dev/null 2>&1 ;;
        onnx) "${PYTHON:-$(command -v /usr/bin/python3 || echo python3)}" -c 'import onnx' >/dev/null 2>&1 ;;
        mpi) command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 ;;
        fashion-mnist) [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
                       [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte ] ;;
        *) echo "tools/deps.sh: unknown requirement '$1'" >&2; exit 2 ;;
    esac
}

package() {
    case $1 in
        cc) echo build-essential ;;
        onnx) echo python3-onnx ;;
        mpi) echo openmpi-bin libopenmpi-dev ;;
        fashion-mnist) echo dataset-fashion-mnist ;;
        *) echo "$1" ;;
    esac
}

label() {
    case $1 in
        cc) echo "a C compiler" ;;
        check) echo "Check" ;;
        graphviz) echo "Graphviz" ;;
        onnx) echo "python3-onnx" ;;
        mpi) echo "Open MPI" ;;
        fashion-mnist) echo "the Fashion-MNIST data set" ;;
        *) echo "$1" ;;
    esac
}

missing=""
names=""
packages=""
for r in "$@"; do
    if ! present "$r"; then
        missing="$missing $r"
        names="${names:+$names, }$(label "$r")"
        packages="$packages $(package "$r")"
    fi
done
[ -n "$missing" ] || exit 0
packages=${packages# }

if [ "${TG_NO_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$what: installing $names (apt-get install -y $packages)"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq $packages; then
        still=""
        for r in $missing; do present "$r" || still="$still $r"; done
        [ -z "$still" ] && exit 0
        echo "$what: still missing after apt-get:$still" >&2
    else
        echo "$what: apt-get install -y $packages failed" >&2
    fi
elif command -v apt-get >/dev/null 2>&1; then
    if [ $optional = 1 ]; then
        echo "$what: note: $names not installed (optional); to add it: sudo apt-get install -y $packages"
        exit 0
    fi
    echo "$what: needs $names; install with: sudo apt-get install -y $packages" >&2
    exit 1
else
    if [ $optional = 1 ]; then
        echo "$what: note: $names not installed (optional; Debian package: $packages)"
        exit 0
    fi
    echo "$what: needs $names (Debian package: $packages); install it with your system's package manager" >&2
    exit 1
fi
[ $optional = 1 ] && exit 0
exit 1
