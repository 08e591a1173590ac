#!/bin/sh
# The whole test suite, from a fresh machine with only python3 and pip:
#   sh tools/test.sh            (extra arguments go to pytest)
# LAZYEXT_PYTHON picks the interpreter (default python3), LAZYEXT_VENV its virtual
# environment (default .venv), LAZYEXT_LINT=0 skips ruff and mypy (.ci/run runs them
# once, then pytest on every supported Python), LAZYEXT_EXTRAS the extras installed
# (default: every one the suite uses).
set -eu
cd "$(dirname "$0")/.."
python=${LAZYEXT_PYTHON:-python3}
venv=${LAZYEXT_VENV:-.venv}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q -e ".[${LAZYEXT_EXTRAS:-test,web,dask,ray,zstd}]"
if [ "${LAZYEXT_LINT:-1}" != 0 ]; then
    "$venv/bin/ruff" check .
    "$venv/bin/ruff" format --check .
    "$venv/bin/mypy"
fi
"$venv/bin/python" -m pytest -n 2 "$@"
