"""``TaskManager``: lazyext's scheduler, over APScheduler 3's ``BackgroundScheduler``.

APScheduler stays behind this class: its jobs live in memory (a job store cannot be
shared between processes), the tasks themselves in lazyext's SQLite state. Every job
runs one at a time (``max_instances=1``), coalesces a backlog into one run
(``coalesce=True``) and is still run when it is up to ``misfire_grace_time`` late
(APScheduler's default of 1 s silently drops runs of a busy or suspended host).

Stored tasks run in the leader process of the data directory only (see
:mod:`lazyext.tasks._leader`); in-memory tasks run in the process that added them.

(Past 400 lines: the public API of one class, whose methods each take the lock and
delegate to the store, runner and scheduler modules; ``run_task``'s typed overloads.)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from lazyext._errors import ConfigError
from lazyext.tasks import _spec
from lazyext.tasks._errors import SchedulerStateError, TaskNotFoundError
from lazyext.tasks._leader import Leadership
from lazyext.tasks._runner import Clock, Runner, in_task
from lazyext.tasks._spec import Task, TaskRun
from lazyext.tasks._store import MemoryTasks, SqliteTasks

if TYPE_CHECKING:
    from lazyext._settings.config import Config
    from lazyext._settings.load import ConfigSource
    from lazyext._settings.maintenance import Maintenance
    from lazyext.tasks._scheduler import Scheduler

logger = logging.getLogger("lazyext.tasks")

_ELECTION_JOB: Final = "lazyext:election"


class TaskManager:
    """Schedule functions to run on intervals, cron expressions or dates.

    ``config`` (as for :func:`lazyext.activate`) is used by the maintenance tasks;
    ``maintenance=True`` registers them from its ``[maintenance]`` table. ``data_dir``
    defaults to lazyext's data directory (``LAZYEXT_DATA_DIR``). ``tasks_directory``
    (default: ``[tasks] directory``) holds modules of ``@task`` functions, stored at
    :meth:`start` (see :mod:`lazyext.tasks._declared`). ``clock`` is for tests.
    Also a context manager: ``with TaskManager() as tasks: ...`` starts and shuts down.
    """

    def __init__(
        self,
        config: ConfigSource | Config = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        maintenance: bool = False,
        misfire_grace_time: float | None = 300.0,
        retry_backoff: float = 1.0,
        election_interval: float | None = None,
        tasks_directory: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._stored = SqliteTasks(data_dir)
        self._memory = MemoryTasks()
        self._funcs: dict[str, Callable[..., object]] = {}
        self._clock = clock or Clock()
        self._runner = Runner(self._clock, retry_backoff)
        self._grace = misfire_grace_time
        self._leadership = Leadership(self._stored.directory)
        self._lock = threading.RLock()
        self._scheduler: Scheduler | None = None
        self._scheduled: dict[str, tuple[bool, int]] = {}  # id -> (stored, revision)
        self._state = "new"
        self._config_source = config
        self._directory = os.path.realpath(tasks_directory) if tasks_directory else None
        self._config: Config | None = None
        self._maintenance: Maintenance | None = None
        if maintenance:
            from lazyext._settings.maintenance import settings_of
            from lazyext.tasks import _maintenance

            self._config = self.config
            self._maintenance = settings_of(self._config)
            _maintenance.install(self._stored, self._config, self._maintenance, self._clock)
        default_interval = self._maintenance.election_interval if self._maintenance else 10.0
        self._election_interval = election_interval or default_interval

    # -- the task list ---------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The lazyext config of the maintenance tasks (loaded on first use)."""
        if self._config is None:
            from lazyext._settings.config import Config
            from lazyext._settings.load import load

            source = self._config_source
            self._config = source if isinstance(source, Config) else load(source, {})
        return self._config

    @property
    def data_dir(self) -> str:
        return str(self._stored.directory)

    def add_task(
        self,
        func: str | Callable[..., object],
        trigger: str = "interval",
        id: str | None = None,
        *,
        name: str | None = None,
        max_retries: int = 3,
        timeout: float | None = None,
        kwargs: Mapping[str, Any] | None = None,
        persist: bool | None = None,
        replace_existing: bool = False,
        **trigger_args: Any,
    ) -> Task:
        """Add a task; ``ConfigError`` for anything invalid, before it is stored.

        ``func`` (APScheduler's name; positional or keyword) is
        ``"package.module:function"`` (stored: survives restarts, runs in the leader
        process) or a callable (in memory: runs in this process, gone with it;
        ``persist=True`` stores a module-level function by its path). ``id`` may be
        given by position too, as in ``add_task(func, "interval", "cleanup", minutes=30)``.
        ``trigger`` is ``interval``, ``cron`` or ``date`` with APScheduler 3's
        arguments (``seconds=30``, ``hour=3``, ``run_date=...``). A failing run is
        retried ``max_retries`` times with doubling backoff; a run longer than
        ``timeout`` seconds is abandoned and recorded as timed out.
        """
        function, path = self._function(func, persist)
        task_id = id or path or _spec.describe_callable(function).split(" ")[0]
        _spec.check_options(task_id, max_retries, timeout, kwargs, stored=path is not None)
        args = _spec.normalize_trigger(trigger, trigger_args)
        task = Task(
            id=task_id,
            name=name or task_id,
            func=path or _spec.describe_callable(function),
            trigger=trigger,
            trigger_args=args,
            kwargs=dict(kwargs or {}),
            max_retries=max_retries,
            timeout=float(timeout) if timeout is not None else None,
            persistent=path is not None,
            next_run=_spec.next_fire(trigger, args, self._clock.time()),
        )
        return self._add(task, function, replace_existing=replace_existing)

    def _add(self, task: Task, func: Callable[..., object], *, replace_existing: bool) -> Task:
        with self._lock:
            other = self._store(not task.persistent)
            if other.get(task.id) is not None:
                other_kind = "in-memory" if task.persistent else "stored"
                raise SchedulerStateError(
                    f"an {other_kind} task has the id {task.id!r}; choose another id, or "
                    "remove that task first",
                    task_id=task.id,
                )
            added = self._store(task.persistent).add(task, replace_existing=replace_existing)
            if not task.persistent:
                self._funcs[task.id] = func
            self._sync(added)
            return self.get_task(task.id)

    def _function(
        self, func_or_path: str | Callable[..., object], persist: bool | None
    ) -> tuple[Callable[..., object], str | None]:
        if isinstance(func_or_path, str):
            func = _spec.resolve(func_or_path)
            return func, (None if persist is False else func_or_path)
        if not callable(func_or_path):
            raise ConfigError(f"a task needs a callable or 'module:function', not {func_or_path!r}")
        if not persist:
            return func_or_path, None
        path = _spec.path_of(func_or_path)
        if path is None:
            raise ConfigError(
                f"{func_or_path!r} cannot be stored: only module-level functions of an "
                "importable module (not __main__, not nested) can be found again by path"
            )
        return func_or_path, path

    def _store(self, stored: bool) -> SqliteTasks | MemoryTasks:
        return self._stored if stored else self._memory

    def _find(self, task_id: str) -> Task:
        task = self._memory.get(task_id) or self._stored.get(task_id)
        if task is None:
            raise TaskNotFoundError(f"no task with id {task_id!r}", task_id=task_id)
        return task

    def get_task(self, task_id: str) -> Task:
        """The task (``TaskNotFoundError``, a ``KeyError``, if there is none)."""
        return self._find(task_id)

    def list_tasks(self) -> list[Task]:
        """Every task: stored ones (all processes') and this manager's in-memory ones."""
        return sorted([*self._stored.all(), *self._memory.all()], key=lambda task: task.id)

    def task_runs(self, task_id: str, limit: int = 50) -> list[TaskRun]:
        """The latest runs of a task, oldest first."""
        task = self._find(task_id)
        return self._store(task.persistent).runs(task_id, limit)

    def remove_task(self, task_id: str) -> None:
        with self._lock:
            task = self._find(task_id)
            self._store(task.persistent).delete(task_id)
            self._funcs.pop(task_id, None)
            self._unschedule(task_id)

    def pause_task(self, task_id: str) -> Task:
        """Stop running the task until :meth:`resume_task` (stored: for every process)."""
        with self._lock:
            task = self._find(task_id)
            paused = self._store(task.persistent).set_enabled(task_id, False, None)
            self._sync(paused)
            return paused

    def resume_task(self, task_id: str) -> Task:
        """Run the task again from its trigger's next time (missed runs are not made up)."""
        with self._lock:
            task = self._find(task_id)
            next_run = _spec.next_run_after(task, self._clock.time())
            resumed = self._store(task.persistent).set_enabled(task_id, True, next_run)
            self._sync(resumed)
            return self.get_task(task_id)

    @overload
    def run_task(self, task_id: str, *, wait: Literal[True] = True) -> TaskRun: ...
    @overload
    def run_task(self, task_id: str, *, wait: Literal[False]) -> None: ...
    @overload
    def run_task(self, task_id: str, *, wait: bool) -> TaskRun | None: ...

    def run_task(self, task_id: str, *, wait: bool = True) -> TaskRun | None:
        """Run the task now, in this process, with its retries and timeout.

        ``wait=True`` (the default) returns the outcome, a :class:`TaskRun`;
        ``wait=False`` runs it on a thread of its own and returns ``None``. A run of the
        same task already going in this process makes this one ``skipped``.
        """
        self._find(task_id)
        if wait:
            return self._execute(task_id, scheduled=False)
        threading.Thread(
            target=self._execute, args=(task_id, False), name=f"lazyext-run:{task_id}", daemon=True
        ).start()
        return None

    # -- running ---------------------------------------------------------------------

    def _run_job(self, task_id: str) -> None:
        """What APScheduler calls: a scheduled run (of a task that may just be gone)."""
        try:
            self._execute(task_id)
        except TaskNotFoundError:
            with self._lock:  # removed by another process since the last tick
                self._unschedule(task_id)

    def _execute(self, task_id: str, scheduled: bool = True) -> TaskRun:
        task = self._find(task_id)
        store = self._store(task.persistent)
        try:
            func = self._funcs[task_id] if not task.persistent else _spec.resolve(task.func)
        except (KeyError, ConfigError) as error:
            now = self._clock.time()
            run = TaskRun(task_id, now, now, "failed", 0, str(error))
        else:
            kwargs = dict(task.kwargs)
            if task.builtin:
                kwargs.update(self._builtin_context())
            run = self._runner.run(
                task, func, kwargs, lambda started: store.mark_running(task_id, started)
            )
        # Under the lock: a _sync that scheduled this very run writes its next run first.
        # A manual run, or one ending after shutdown, leaves the stored next run alone.
        with self._lock:
            update = scheduled and self._state == "running"
            store.record(run, self._next_run(task_id) if update else None, update_next=update)
        log = logger.info if run.ok else logger.warning
        log("task %s: %s after %d attempt(s) %s", task_id, run.status, run.attempts, run.error)
        return run

    def _builtin_context(self) -> dict[str, Any]:
        context: dict[str, Any] = {"data_dir": self.data_dir, "now": self._clock.time()}
        if self._config is not None:
            context["config"] = self._config
        return context

    def _next_run(self, task_id: str) -> float | None:
        scheduler = self._scheduler
        return scheduler.next_run(task_id) if scheduler is not None else None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def is_leader(self) -> bool:
        """True while this manager runs the data directory's stored tasks."""
        return self._leadership.held

    def start(self) -> None:
        """Start scheduling in a background thread; stored tasks once elected leader."""
        with self._lock:
            if self._state != "new":
                raise SchedulerStateError(
                    "this task manager was started before; create a new one"
                    if self._state == "stopped"
                    else "the task manager is running already"
                )
            from lazyext.tasks import _declared
            from lazyext.tasks._scheduler import Scheduler

            directory = self._directory or _declared.directory_of(self.config)
            if directory is not None:
                _declared.register_directory(self, directory)
            self._scheduler = Scheduler(self._grace, self._on_not_run, self._exit)
            self._state = "running"
            for task in self._memory.all():
                self._sync(task)
            self._elect()
            self._scheduler.add_tick(_ELECTION_JOB, self._elect, self._election_interval)

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; idempotent, and safe from inside a task.

        ``wait=True`` lets running tasks finish; ``wait=False`` stops waiting for them
        (they are recorded as interrupted). Called from a task's own thread, the
        shutdown is handed to another thread and this call returns at once.
        """
        scheduler = self._scheduler
        if in_task() or (scheduler is not None and scheduler.on_scheduler_thread()):
            threading.Thread(
                target=self.shutdown, args=(wait,), name="lazyext-tasks-shutdown", daemon=True
            ).start()
            return
        with self._lock:
            was_running, self._state = self._state == "running", "stopped"
        if not was_running:
            return
        self._runner.stop.set()
        if not wait:
            self._runner.wake_all()
        if scheduler is not None:
            scheduler.shutdown(wait)
        with self._lock:
            self._leadership.release()

    def __enter__(self) -> TaskManager:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- scheduling ------------------------------------------------------------------

    def _elect(self, *_ignored: object) -> None:
        """The periodic tick: become leader if nobody is; as leader, follow the store."""
        with self._lock:
            if self._state != "running":
                return
            if self._leadership.held or self._leadership.try_acquire():
                self._reconcile()

    def _reconcile(self) -> None:
        stored = {task.id: task for task in self._stored.all()}
        for task_id, (is_stored, _revision) in list(self._scheduled.items()):
            if is_stored and task_id not in stored:
                self._unschedule(task_id)
        for task in stored.values():
            self._sync(task)

    def _sync(self, task: Task) -> None:
        """Make the scheduler match ``task`` (only while running; stored: only as leader)."""
        if self._state != "running" or (task.persistent and not self._leadership.held):
            return
        if self._scheduled.get(task.id) == (task.persistent, task.revision):
            return
        self._unschedule(task.id)
        self._scheduled[task.id] = (task.persistent, task.revision)
        if not task.enabled or _spec.is_spent(task):
            return  # paused, or a one-off that has run
        scheduler = self._scheduler
        if scheduler is not None:
            trigger = _spec.build_trigger(task.trigger, task.trigger_args)
            next_run = scheduler.add(task.id, task.name, self._run_job, trigger, task.next_run)
            self._store(task.persistent).set_next_run(task.id, next_run)

    def _unschedule(self, task_id: str) -> None:
        self._scheduled.pop(task_id, None)
        if self._scheduler is not None:
            self._scheduler.remove(task_id)

    def _on_not_run(self, task_id: str, status: str) -> None:
        """APScheduler skipped (previous run going) or dropped (too late) a run: record it."""
        if task_id == _ELECTION_JOB:
            return
        error = (
            f"missed: more than {self._grace} s late (the host was busy or asleep)"
            if status == "missed"
            else "skipped: the previous run is still going"
        )
        now = self._clock.time()
        try:
            task = self._find(task_id)
            run = TaskRun(task_id, now, now, status, 0, error)
            self._store(task.persistent).record(run, self._next_run(task_id))
        except Exception:  # a listener must not break the scheduler loop
            logger.warning("could not record the outcome of %s", task_id, exc_info=True)

    def _exit(self) -> None:
        self.shutdown(wait=False)
