#!/bin/sh
# The whole test suite, from a fresh machine with only python3 and pip:
#   sh tools/test.sh            (extra arguments go to pytest)
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,web,dask,ray,zstd]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
