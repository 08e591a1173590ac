"""The examples that had rotted in the README before issue 25, verbatim: each fails the
checks that tests/docs runs on every block, so rot of that kind cannot come back unseen.

Their fixed forms are in README.md and docs/ and pass (test_docs_examples.py).
"""

from __future__ import annotations

import pytest

from docblocks import Block, parse_text
from docsandbox import Project, check

# The README's "Install" before issue 25: lazyext is on no index.
OLD_INSTALL = """
<!-- docs: cwd=checkout -->
```sh
pip install lazyext            # or: uv pip install lazyext; Python >= 3.11
pip install 'lazyext[web]'     # the optional web API (FastAPI, uvicorn)
```
"""

# The README's conflict, `{"rich": "rich>=13", "pygments": "pygments<2.10"}` "raises
# lazyext.ResolutionError", written as the block that now shows rich>=14.
OLD_CONFLICT = """
```python
import lazyext

lazyext.activate({"rich": "rich>=13", "pygments": "pygments<2.10"})
try:
    import rich
except lazyext.ResolutionError as error:  # nothing was installed
    print(error)
else:
    raise AssertionError("not reached: rich>=14 needs pygments>=2.13")
```
"""

JOBS = """
```python
# myapp/jobs.py
def sync() -> None: ...
def report() -> None: ...
```
"""

# The README's tasks block before issue 25 (the functions it names, given above).
OLD_TASKS = """
```python
import lazyext

tasks = lazyext.TaskManager()  # state in the data dir (LAZYEXT_DATA_DIR)
tasks.add_task("myapp.jobs:sync", "interval", minutes=10, max_retries=3, timeout=120)
tasks.add_task("myapp.jobs:report", "cron", id="nightly", hour=3, minute=15)
tasks.add_task(func=print, trigger="date", id="once", run_date="2030-01-01T00:00:00")
tasks.add_task(cleanup, "interval", "cleanup_task", minutes=30)  # id by position too
tasks.start()  # background thread; tasks.shutdown() stops it
run = tasks.run_task("nightly")  # now, here: TaskRun(status="ok", attempts=1, ...)
tasks.pause_task("nightly")
tasks.resume_task("nightly")
tasks.remove_task("once")
tasks.get_task("nightly"), tasks.list_tasks(), tasks.task_runs("nightly")
```
"""

FIVE_MINUTES = """
```toml
# lazyext.toml
[[extensions]]
name = "yaml"
package = "PyYAML>=6"
```

```python
# app.py
import sys
import lazyext

lazyext.activate()  # finds lazyext.toml; ~3 ms; installs nothing

if sys.argv[1].endswith(".yaml"):
    import yaml  # the first time on this machine: installed, then imported
    with open(sys.argv[1]) as file:
        print(yaml.safe_load(file))
```

```yaml
# settings.yaml
debug: true
```
"""

# The README's transcript before issue 25.
OLD_TRANSCRIPT = """
```console
$ python app.py settings.yaml
lazyext: installed PyYAML>=6 for `import yaml` in 0.7 s
{'debug': True}
$ python app.py settings.yaml         # every later run: from the cache, no uv
{'debug': True}
$ lazyext status
config: /home/me/app/lazyext.toml (found from /home/me/app)
cache:  /home/me/.cache/lazyext (cp311-cp311-linux_x86_64)
NAME  STATE      VERSION  SIZE     REQUIREMENT
yaml  installed  6.0.3    2.7 MiB  pyyaml>=6
$ lazyext doctor yaml                 # which finder serves it, from where, and why
```
"""

# The README's activate() before issue 25 (a bullet then; a signature block now).
OLD_SIGNATURE = """
<!-- docs: signatures=lazyext -->
```python
def activate(config=None, *, cache_dir=None, offline=None, index_url=None,
             find_links=None, no_index=None, ttl_hours=None): ...
```
"""


def _run(markdown: str, project: Project) -> str:
    """Check the last block of ``markdown`` after writing its file blocks; return why it
    failed (the test fails if it passed)."""
    blocks = parse_text(markdown, "README.md")
    *files, last = blocks
    for block in files:
        assert block.kind == "file", block
        project.write(block)
    with pytest.raises(AssertionError) as failure:
        check(last, project)
    return str(failure.value)


def test_pip_install_lazyext_fails_it_is_not_published(project: Project) -> None:
    assert "lazyext was not found" in _run(OLD_INSTALL, project)


def test_rich_13_with_old_pygments_is_no_conflict(project: Project) -> None:
    assert "not reached" in _run(OLD_CONFLICT, project)


def test_the_tasks_block_never_defined_cleanup(project: Project) -> None:
    assert "NameError: name 'cleanup' is not defined" in _run(JOBS + OLD_TASKS, project)


def test_the_tasks_block_fails_the_second_time(project: Project) -> None:
    defined = OLD_TASKS.replace("import lazyext\n", "import lazyext\n\ndef cleanup(): ...\n")
    why = _run(JOBS + defined, project)
    assert why.startswith("second run failed")
    assert "TaskExistsError" in why


def test_the_status_transcript_was_stale(project: Project) -> None:
    why = _run(FIVE_MINUTES + OLD_TRANSCRIPT, project)
    assert "expected:" in why


def test_the_status_transcript_was_stale_past_its_first_line(project: Project) -> None:
    """Even without the progress line (stderr is not a terminal here), `status` has
    changed: the environment line and the table of distributions."""
    transcript = OLD_TRANSCRIPT.replace(
        "lazyext: installed PyYAML>=6 for `import yaml` in 0.7 s\n", ""
    )
    why = _run(FIVE_MINUTES + transcript, project)
    assert "$ lazyext status" in why
    assert "environment: resolved" in why


def test_activate_lacked_lock(project: Project) -> None:
    assert "activate" in _run(OLD_SIGNATURE, project)


def test_the_blocks_above_are_what_they_say() -> None:
    kinds = [block.kind for block in parse_text(FIVE_MINUTES + OLD_TASKS, "README.md")]
    assert kinds == ["file", "file", "file", "python"]
    assert isinstance(parse_text(OLD_INSTALL, "README.md")[0], Block)
