#!/bin/sh
# The benchmark suite (5-10 minutes on 2 cores, no network), from a fresh machine
# with only python3 and pip:
#   sh tools/bench.sh            (--quick: a one-repetition smoke run; --only B1,B4;
#                                 --real: B4-real, pandas from PyPI, needs the network)
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m benchmarks "$@"
