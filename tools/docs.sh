#!/bin/sh
# The documentation site, built strictly: a broken link or anchor, a page left out of
# the navigation, a docstring mkdocstrings cannot read, or a setting, default or
# environment variable without its description fails it.
#   sh tools/docs.sh            (extra arguments go to mkdocs build; the site goes to site/)
# LAZYEXT_PYTHON and LAZYEXT_VENV as for tools/test.sh. The examples of the pages run in
# the test suite (tests/docs/), not here.
set -eu
cd "$(dirname "$0")/.."
python=${LAZYEXT_PYTHON:-python3}
venv=${LAZYEXT_VENV:-.venv}
"$python" -m venv "$venv"
# Installing is skipped when the venv has what the build needs (it takes longer than
# the build).
if ! "$venv/bin/python" -c "import lazyext, mkdocs, material, mkdocstrings_handlers.python" \
    2>/dev/null; then
    "$venv/bin/python" -m pip install -q -e '.[docs]'
fi
NO_MKDOCS_2_WARNING=1 exec "$venv/bin/mkdocs" build --strict "$@"
