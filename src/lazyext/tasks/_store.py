"""Where tasks live: stored tasks in the shared SQLite state, in-memory ones in a dict.

Stored tasks (component ``tasks`` of :mod:`lazyext._state`) survive restarts and are
seen by every process on the data directory: the CLI adds one, the running scheduler
picks it up. ``revision`` grows with every change of a task's definition or of its
enabled flag, so a scheduler reschedules exactly the tasks that changed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from lazyext._record import replace
from lazyext.tasks._errors import TaskExistsError, TaskNotFoundError
from lazyext.tasks._spec import Task, TaskRun

if TYPE_CHECKING:
    import sqlite3

_MIGRATIONS: Final = (
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        func_path TEXT NOT NULL,
        kwargs TEXT NOT NULL DEFAULT '{}',
        trigger TEXT NOT NULL,
        trigger_args TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        max_retries INTEGER NOT NULL DEFAULT 3,
        timeout REAL,
        builtin INTEGER NOT NULL DEFAULT 0,
        last_run REAL,
        next_run REAL,
        status TEXT NOT NULL DEFAULT 'new',
        last_error TEXT NOT NULL DEFAULT '',
        run_count INTEGER NOT NULL DEFAULT 0,
        revision INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE task_runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL
    );
    CREATE INDEX task_runs_by_task ON task_runs (task_id, seq);
    CREATE TABLE health (
        name TEXT PRIMARY KEY,
        requirement TEXT NOT NULL,
        checked_at REAL NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
)
#: Run history kept per task.
HISTORY: Final = 50
#: Outcomes that count as a run (skipped and missed ones never started).
_COUNTED: Final = frozenset({"ok", "failed", "timed_out", "interrupted"})
_COLUMNS: Final = (
    "id, name, func_path, kwargs, trigger, trigger_args, enabled, max_retries, timeout, "
    "builtin, last_run, next_run, status, last_error, run_count, revision"
)


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        name=row["name"],
        func=row["func_path"],
        trigger=row["trigger"],
        trigger_args=json.loads(row["trigger_args"]),
        kwargs=json.loads(row["kwargs"]),
        enabled=bool(row["enabled"]),
        max_retries=int(row["max_retries"]),
        timeout=row["timeout"],
        persistent=True,
        builtin=bool(row["builtin"]),
        last_run=row["last_run"],
        next_run=row["next_run"],
        status=row["status"],
        last_error=row["last_error"],
        run_count=int(row["run_count"]),
        revision=int(row["revision"]),
    )


class SqliteTasks:
    """Stored tasks, shared by the processes of one data directory."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        from lazyext import _state

        self.directory: Path = _state.data_dir(directory)
        self._migrated = False

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        # A connection per operation: tasks run on many threads, and a connection is
        # bound to its thread; opening one costs far less than any task.
        import sqlite3

        from lazyext import _state

        connection = _state.connect(self.directory)
        try:
            if not self._migrated:
                _state.migrate(connection, "tasks", _MIGRATIONS)
                self._migrated = True
            if write:
                with _state.transaction(connection):
                    yield connection
            else:
                yield connection
        except sqlite3.DatabaseError as error:  # disk full, damaged: say which (_state)
            raise _state.explain(error, self.directory / _state.DB_NAME) from error
        finally:
            connection.close()

    def get(self, task_id: str) -> Task | None:
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else _task(row)

    def require(self, task_id: str) -> Task:
        task = self.get(task_id)
        if task is None:
            raise TaskNotFoundError(f"no stored task {task_id!r}", task_id=task_id)
        return task

    def all(self) -> list[Task]:
        with self._db() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM tasks ORDER BY id").fetchall()
        return [_task(row) for row in rows]

    def add(self, task: Task, *, replace_existing: bool = False) -> Task:
        """Insert ``task``; with ``replace_existing`` a new definition keeps the history."""
        values = (
            task.name,
            task.func,
            json.dumps(dict(task.kwargs), sort_keys=True),
            task.trigger,
            json.dumps(dict(task.trigger_args), sort_keys=True),
            int(task.enabled),
            task.max_retries,
            task.timeout,
            int(task.builtin),
            task.next_run,
        )
        with self._db(write=True) as db:
            exists = db.execute("SELECT 1 FROM tasks WHERE id = ?", (task.id,)).fetchone()
            if exists and not replace_existing:
                raise TaskExistsError(
                    f"a task with id {task.id!r} exists already; remove it first or pass "
                    "replace_existing=True",
                    task_id=task.id,
                )
            if exists:
                db.execute(
                    "UPDATE tasks SET name = ?, func_path = ?, kwargs = ?, trigger = ?, "
                    "trigger_args = ?, enabled = ?, max_retries = ?, timeout = ?, builtin = ?, "
                    "next_run = ?, revision = revision + 1 WHERE id = ?",
                    (*values, task.id),
                )
            else:
                db.execute(
                    "INSERT INTO tasks (name, func_path, kwargs, trigger, trigger_args, enabled, "
                    "max_retries, timeout, builtin, next_run, id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, task.id),
                )
        return self.require(task.id)

    def delete(self, task_id: str) -> bool:
        with self._db(write=True) as db:
            deleted = db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount
            db.execute("DELETE FROM task_runs WHERE task_id = ?", (task_id,))
        return bool(deleted)

    def set_enabled(self, task_id: str, enabled: bool, next_run: float | None) -> Task:
        with self._db(write=True) as db:
            changed = db.execute(
                "UPDATE tasks SET enabled = ?, next_run = ?, revision = revision + 1 WHERE id = ?",
                (int(enabled), next_run, task_id),
            ).rowcount
        if not changed:
            raise TaskNotFoundError(f"no stored task {task_id!r}", task_id=task_id)
        return self.require(task_id)

    def set_next_run(self, task_id: str, next_run: float | None) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE tasks SET next_run = ? WHERE id = ?", (next_run, task_id))

    def mark_running(self, task_id: str, started: float) -> None:
        with self._db(write=True) as db:
            db.execute(
                "UPDATE tasks SET status = 'running', last_run = ? WHERE id = ?",
                (started, task_id),
            )

    def record(self, run: TaskRun, next_run: float | None, *, update_next: bool = True) -> None:
        """Record ``run`` as the task's latest outcome (and ``next_run`` if updating)."""
        counted = int(run.status in _COUNTED)
        with self._db(write=True) as db:
            updated = db.execute(
                "UPDATE tasks SET status = ?, last_error = ?, "
                "next_run = CASE WHEN ? THEN ? ELSE next_run END, "
                "run_count = run_count + ?, last_run = CASE WHEN ? THEN ? ELSE last_run END "
                "WHERE id = ?",
                (
                    run.status,
                    run.error,
                    int(update_next),
                    next_run,
                    counted,
                    counted,
                    run.started,
                    run.task_id,
                ),
            ).rowcount
            if not updated:  # removed (by another process) while it ran: no history
                return
            db.execute(
                "INSERT INTO task_runs (task_id, started, finished, status, attempts, error, pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run.task_id,
                    run.started,
                    run.finished,
                    run.status,
                    run.attempts,
                    run.error,
                    os.getpid(),
                ),
            )
            db.execute(
                "DELETE FROM task_runs WHERE task_id = ? AND seq <= "
                "(SELECT seq FROM task_runs WHERE task_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (run.task_id, run.task_id, HISTORY),
            )

    def runs(self, task_id: str, limit: int = HISTORY) -> list[TaskRun]:
        """The latest runs of a task, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT task_id, started, finished, status, attempts, error FROM task_runs "
                "WHERE task_id = ? ORDER BY seq DESC LIMIT ?",
                (task_id, limit),
            ).fetchall()
        return [TaskRun(*row) for row in reversed(rows)]

    def put_health(self, results: list[dict[str, Any]]) -> None:
        with self._db(write=True) as db:
            db.executemany(
                "INSERT INTO health (name, requirement, checked_at, ok, detail) "
                "VALUES (:name, :requirement, :checked_at, :ok, :detail) "
                "ON CONFLICT(name) DO UPDATE SET requirement = excluded.requirement, "
                "checked_at = excluded.checked_at, ok = excluded.ok, detail = excluded.detail",
                results,
            )

    def health(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT name, requirement, checked_at, ok, detail FROM health ORDER BY name"
            ).fetchall()
        return [dict(row) | {"ok": bool(row["ok"])} for row in rows]


class MemoryTasks:
    """Tasks of callables that cannot be imported by path: this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._runs: dict[str, list[TaskRun]] = {}

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda task: task.id)

    def add(self, task: Task, *, replace_existing: bool = False) -> Task:
        with self._lock:
            old = self._tasks.get(task.id)
            if old is not None and not replace_existing:
                raise TaskExistsError(
                    f"a task with id {task.id!r} exists already; remove it first or pass "
                    "replace_existing=True",
                    task_id=task.id,
                )
            revision = old.revision + 1 if old is not None else 1
            self._tasks[task.id] = replace(task, revision=revision)
            return self._tasks[task.id]

    def delete(self, task_id: str) -> bool:
        with self._lock:
            self._runs.pop(task_id, None)
            return self._tasks.pop(task_id, None) is not None

    def set_enabled(self, task_id: str, enabled: bool, next_run: float | None) -> Task:
        return self._update(
            task_id, enabled=enabled, next_run=next_run, revision=self._revision(task_id) + 1
        )

    def _revision(self, task_id: str) -> int:
        task = self._tasks.get(task_id)
        return task.revision if task is not None else 0

    def set_next_run(self, task_id: str, next_run: float | None) -> None:
        self._update(task_id, next_run=next_run)

    def mark_running(self, task_id: str, started: float) -> None:
        self._update(task_id, status="running", last_run=started)

    def record(self, run: TaskRun, next_run: float | None, *, update_next: bool = True) -> None:
        with self._lock:
            task = self._tasks.get(run.task_id)
            if task is None:
                return
            counted = run.status in _COUNTED
            self._tasks[run.task_id] = replace(
                task,
                status=run.status,
                last_error=run.error,
                next_run=next_run if update_next else task.next_run,
                run_count=task.run_count + int(counted),
                last_run=run.started if counted else task.last_run,
            )
            history = self._runs.setdefault(run.task_id, [])
            history.append(run)
            del history[:-HISTORY]

    def runs(self, task_id: str, limit: int = HISTORY) -> list[TaskRun]:
        return list(self._runs.get(task_id, ())[-limit:])

    def _update(self, task_id: str, **changes: Any) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                raise TaskNotFoundError(f"no task {task_id!r}", task_id=task_id)
            self._tasks[task_id] = replace(task, **changes)
            return self._tasks[task_id]
