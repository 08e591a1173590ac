"""Request and response bodies of the web API, mirroring lazyext's own records.

Responses mirror :class:`lazyext.tasks.Task`, :class:`lazyext.tasks.TaskRun`,
:class:`lazyext.plugins.PluginInfo` and :class:`lazyext.plugins.SnapshotInfo`
field by field (times are POSIX timestamps). Requests forbid unknown fields, so a
misspelt option is a 422 that names it instead of being ignored, and take each value
as the JSON type the document gives it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

#: A trigger argument as APScheduler 3 takes it: a number, a string (cron fields,
#: ISO dates, time zones) or null.
TriggerValue = StrictInt | StrictFloat | StrictStr | None


def _integral(value: Any) -> Any:
    """``3.0`` as ``3``: JSON Schema's integers include it; other floats stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: Marks an integer of a request body: as JSON Schema counts them (``3`` or ``3.0``).
#: It comes after the field's constraints, or they leave the document's schema.
INTEGRAL: Final = BeforeValidator(_integral)


class _Request(BaseModel):
    # Strict: a value of another JSON type is refused, as the document says, instead
    # of converted ("true" is not a boolean, "3" not a number).
    model_config = ConfigDict(extra="forbid", strict=True)


# -- tasks ---------------------------------------------------------------------------


#: A task id the API accepts: 1-200 characters, no control characters, no '/' (it
#: could not be named in a URL).
TASK_ID_PATTERN: Final = r"^[^\x00-\x1f\x7f/]{1,200}$"
_FUNC_DESCRIPTION: Final = "'package.module:function', importable by the server process"
Func = Annotated[
    str,
    Field(min_length=1, max_length=300, description=_FUNC_DESCRIPTION, examples=["x.jobs:sync"]),
]
TriggerArgs = Annotated[
    dict[str, TriggerValue],
    Field(
        description="APScheduler 3 trigger arguments: interval weeks/days/hours/minutes/"
        "seconds, cron year/month/day/week/day_of_week/hour/minute/second, date run_date; "
        "all: start_date, end_date, timezone, jitter",
        examples=[{"minutes": 10}],
    ),
]
MaxRetries = Annotated[
    int, Field(ge=0, le=100, description="retries of a failing run, doubling backoff"), INTEGRAL
]
Timeout = Annotated[
    float, Field(gt=0, le=366 * 86400, description="seconds before a run is abandoned")
]
_NAME = Field(None, min_length=1, max_length=200)


def _func_path(data: Any) -> Any:
    """``func_path`` (the seed designs' name) read as ``func``; one of them, not both."""
    if isinstance(data, dict) and "func_path" in data:
        if "func" in data:
            raise ValueError("send 'func' or its seed name 'func_path', not both")
        data = dict(data)
        data["func"] = data.pop("func_path")
    return data


def _document_func_path(schema: dict[str, Any]) -> None:
    """The document says what :func:`_func_path` accepts: one of the two names."""
    properties = schema.setdefault("properties", {})
    func = properties.get("func", {})
    properties["func_path"] = {
        key: value for key, value in func.items() if key not in ("title", "examples")
    }
    properties["func_path"]["description"] = "the seed designs' name of 'func' (send one of them)"
    if "func" in schema.get("required", []):
        schema["required"] = [name for name in schema["required"] if name != "func"]
        if not schema["required"]:
            del schema["required"]
        schema["oneOf"] = [{"required": ["func"]}, {"required": ["func_path"]}]
    else:
        schema["not"] = {"required": ["func", "func_path"]}


class TaskDefinition(_Request):
    """What a task runs and when (the fields of ``TaskManager.add_task``); the
    function as ``func`` or ``func_path``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_document_func_path)

    func: Func
    trigger: Literal["interval", "cron", "date"] = "interval"
    trigger_args: TriggerArgs = Field(default_factory=dict)
    name: str | None = _NAME
    max_retries: MaxRetries = 3
    timeout: Timeout | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")

    _accept_func_path = model_validator(mode="before")(_func_path)


class TaskCreate(TaskDefinition):
    """``POST /tasks``: a new stored task."""

    id: str | None = Field(
        None, pattern=TASK_ID_PATTERN, description="default: a new id, unique to this task"
    )
    replace_existing: bool = Field(
        False,
        description="a task with this id exists: replace its definition (its run history "
        "stays) instead of answering 409",
    )


class TaskReplace(TaskDefinition):
    """``PUT /tasks/{id}``: the task's whole new definition (its run history stays)."""

    enabled: bool | None = Field(None, description="pause (false) or resume (true); null: keep")


class TaskUpdate(_Request):
    """``PATCH /tasks/{id}``: the fields to change; the others keep their values.

    A new ``trigger`` needs its ``trigger_args``; ``timeout: null`` removes the
    timeout."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_document_func_path)

    func: Func | None = None
    trigger: Literal["interval", "cron", "date"] | None = None
    trigger_args: TriggerArgs | None = None
    name: str | None = _NAME
    enabled: bool | None = Field(None, description="pause (false) or resume (true)")
    max_retries: MaxRetries | None = None
    timeout: Timeout | None = None
    kwargs: dict[str, Any] | None = Field(None, description="keyword arguments (all of them)")

    _accept_func_path = model_validator(mode="before")(_func_path)


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
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="what its entry object is constructed with: the config's "
        "[plugins.arguments.<id>], then those set with PATCH, key by key",
    )
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
        max_length=1000,
        description="a PEP 508 requirement of a plugin distribution",
        examples=["my-plugin>=1"],
    )
    enable: bool = False


class PluginUpdate(_Request):
    """``PATCH /plugins/{id}``: the fields to change (the seed's ``PluginUpdate``)."""

    enabled: bool | None = Field(None, description="enable (true) or disable (false)")
    arguments: dict[str, Any] | None = Field(
        None,
        description="the plugin's arguments, replacing those set before (the config's "
        "stay under them); a running plugin is reloaded with them",
    )


class SnapshotCreate(_Request):
    note: str = Field("", max_length=2000)


class SnapshotRestore(_Request):
    snapshot: Annotated[int, Field(ge=0, le=2**63 - 1), INTEGRAL] = Field(
        description="the id of one of the plugin's snapshots"
    )


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


class ExtensionDetail(ExtensionStatus):
    """``GET /extensions/{name}``: one extension, with its configured ``arguments``."""

    arguments: dict[str, Any] = Field(description="the extension's [extensions.arguments]")


class CacheStatus(BaseModel):
    source: str
    cache_dir: str
    platform: str
    extensions: list[ExtensionStatus]


class WarmRequest(_Request):
    names: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000, description="default: every enabled one"
    )
    refresh: bool = Field(
        False, description="resolve the environment again (newer releases), install what changed"
    )


class WarmResult(BaseModel):
    ok: bool
    detail: str = Field(description="the install directory, or the error")


class WarmReport(BaseModel):
    seconds: float
    results: dict[str, WarmResult]


class Invalidated(BaseModel):
    name: str
    invalidated: int = Field(description="installs marked invalid; the next use reinstalls")


# -- health ----------------------------------------------------------------------------


class SchedulerHealth(BaseModel):
    configured: bool = Field(description="the server runs the scheduler ([web] scheduler)")
    running: bool


class PluginsHealth(BaseModel):
    installed: int
    enabled: int = Field(description="recorded as enabled (the wanted state)")
    loaded: int = Field(description="running in the server")
    failed: int


class Health(BaseModel):
    """``GET /healthz``: the server answers, and what its managers are doing."""

    status: Literal["ok"]
    version: str
    scheduler: SchedulerHealth
    plugins: PluginsHealth


# -- errors ----------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    error: str = Field(description="the kind of error, e.g. TaskNotFoundError")
    message: str
    problems: list[str] = Field(description="every problem found, one a line")
    fix: str = Field(description="what to change to make the request succeed")
    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    """Every error lazyext's web layer sends (401, 403, 404, 409, 413, 415, 503, ...)."""

    detail: ErrorDetail


class ValidationItem(BaseModel):
    """One field FastAPI found wrong (``loc`` is its place in the request)."""

    loc: list[str | int]
    msg: str
    type: str
    model_config = ConfigDict(extra="allow")


class ValidationErrorResponse(BaseModel):
    """FastAPI's 422 for a malformed request: one item per wrong field."""

    detail: list[ValidationItem]


class PlainErrorResponse(BaseModel):
    """FastAPI's 400 for a body it cannot decode (e.g. not UTF-8)."""

    detail: str
