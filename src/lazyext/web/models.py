"""Request and response bodies of the web API, mirroring lazyext's own records.

Responses mirror :class:`lazyext.tasks.Task`, :class:`lazyext.tasks.TaskRun`,
:class:`lazyext.plugins.PluginInfo` and :class:`lazyext.plugins.SnapshotInfo`
field by field (times are POSIX timestamps). Requests forbid unknown fields, so a
misspelt option is a 422 that names it instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

#: A trigger argument as APScheduler 3 takes it: a number, a string (cron fields,
#: ISO dates, time zones) or null.
TriggerValue = StrictInt | StrictFloat | StrictStr | None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- tasks ---------------------------------------------------------------------------


class TaskDefinition(_Request):
    """What a task runs and when (the fields of ``TaskManager.add_task``)."""

    func: str = Field(
        description="'package.module:function', importable by the server process",
        examples=["myapp.jobs:sync"],
    )
    trigger: Literal["interval", "cron", "date"] = "interval"
    trigger_args: dict[str, TriggerValue] = Field(
        default_factory=dict,
        description="APScheduler 3 trigger arguments: interval weeks/days/hours/minutes/"
        "seconds, cron year/month/day/week/day_of_week/hour/minute/second, date run_date; "
        "all: start_date, end_date, timezone, jitter",
        examples=[{"minutes": 10}],
    )
    name: str | None = None
    max_retries: int = Field(3, ge=0, description="retries of a failing run, doubling backoff")
    timeout: float | None = Field(None, gt=0, description="seconds before a run is abandoned")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")


class TaskCreate(TaskDefinition):
    """``POST /tasks``: a new stored task."""

    id: str | None = Field(None, description="default: the function path")


class TaskReplace(TaskDefinition):
    """``PUT /tasks/{id}``: the task's whole new definition (its run history stays)."""

    enabled: bool | None = Field(None, description="pause (false) or resume (true); null: keep")


class TaskOut(BaseModel):
    """A task as :meth:`lazyext.tasks.Task.as_dict` describes it."""

    id: str
    name: str
    func: str
    trigger: str
    trigger_args: dict[str, Any]
    kwargs: dict[str, Any]
    enabled: bool
    max_retries: int
    timeout: float | None
    persistent: bool
    builtin: bool
    last_run: float | None
    next_run: float | None
    status: str
    last_error: str
    run_count: int


class TaskRunOut(BaseModel):
    """One run of a task: ``ok``, ``failed``, ``timed_out``, ``skipped``, ..."""

    task_id: str
    started: float
    finished: float
    status: str
    attempts: int
    error: str


# -- plugins -------------------------------------------------------------------------


class ManifestOut(BaseModel):
    id: str
    name: str
    version: str
    description: str
    author: str
    dependencies: list[str]
    entry: str
    package: str
    modules: list[str]


class PluginOut(BaseModel):
    """A plugin's recorded state, and whether it runs in this server."""

    id: str
    name: str
    version: str
    description: str
    author: str
    enabled: bool = Field(description="the wanted state, shared by every process")
    status: str = Field(description="enabled, disabled or failed (see last_error)")
    installed_at: float
    updated_at: float
    path: str
    source: str
    dependencies: list[str]
    last_error: str | None
    revision: int
    manifest: ManifestOut
    loaded: bool = Field(False, description="enabled in the server process")
    routes: str | None = Field(
        None, description="where its router is served (from the API's root), if it has one"
    )


class SnapshotOut(BaseModel):
    id: int
    plugin_id: str
    created_at: float
    version: str
    path: str
    note: str
    manifest: ManifestOut
    state: dict[str, Any]


class PluginDetail(PluginOut):
    """``GET /plugins/{id}``: the plugin and its snapshots."""

    snapshots: list[SnapshotOut]


class PluginInstall(_Request):
    """``POST /plugins``: install or upgrade from a requirement (zips: /plugins/upload)."""

    requirement: str = Field(
        description="a PEP 508 requirement of a plugin distribution", examples=["my-plugin>=1"]
    )
    enable: bool = False


class SnapshotCreate(_Request):
    note: str = ""


class SnapshotRestore(_Request):
    snapshot: int = Field(description="the id of one of the plugin's snapshots")


# -- extensions and the cache -----------------------------------------------------------


class ExtensionStatus(BaseModel):
    name: str
    requirement: str
    modules: list[str]
    enabled: bool
    key: str
    state: str = Field(description="installed, expired, missing, host, built-in, not-applicable")
    version: str
    size: int
    path: str
    installed_at: float | None


class CacheStatus(BaseModel):
    source: str
    cache_dir: str
    platform: str
    extensions: list[ExtensionStatus]


class WarmRequest(_Request):
    names: list[str] = Field(default_factory=list, description="default: every enabled one")
    refresh: bool = Field(False, description="reinstall even if cached")


class WarmResult(BaseModel):
    ok: bool
    detail: str = Field(description="the install directory, or the error")


class WarmReport(BaseModel):
    seconds: float
    results: dict[str, WarmResult]


class Invalidated(BaseModel):
    name: str
    invalidated: int = Field(description="installs marked invalid; the next use reinstalls")


# -- errors ----------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    error: str = Field(description="the kind of error, e.g. TaskNotFoundError")
    message: str
    problems: list[str] = Field(description="every problem found, one a line")
    fix: str = Field(description="what to change to make the request succeed")
    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    detail: ErrorDetail
