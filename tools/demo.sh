#!/bin/sh
# The demo, offline: builds wheels locally, installs them on first import, times a
# cold and a warm process.   sh tools/demo.sh
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python -m lazyext.demo "$@"
