"""``/plugins``: the plugin lifecycle (see :class:`lazyext.PluginManager`).

Changes go through the server's manager, so they take effect in the server process
(its routes follow at once) and in the shared state (other processes with hot reload
follow). A plugin arrives as a requirement (``POST /plugins``) or as an uploaded zip
(``POST /plugins/upload``, multipart field ``file``); the zip is written to a private
temporary directory and installed by the manager, which checks it entry by entry
before anything is unpacked (exactly what ``lazyext plugins install`` does).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from lazyext._errors import LazyextError
from lazyext.plugins import PluginError, PluginInfo, PluginManager
from lazyext.plugins._sources import is_path
from lazyext.web import _ids, _limits
from lazyext.web._errors import http_error, problem, translated
from lazyext.web._limits import too_big
from lazyext.web._service import Service
from lazyext.web.models import (
    ErrorResponse,
    PluginDetail,
    PluginInstall,
    PluginOut,
    PluginUpdate,
    SnapshotCreate,
    SnapshotOut,
    SnapshotRestore,
)

_TAGS: list[str | Any] = ["plugins"]
_CHUNK: Final = 1 << 16
_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]")
_UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the plugin as a .zip",
                        }
                    },
                }
            }
        },
    }
}


def add_routes(api: APIRouter, service: Service) -> None:
    manager: PluginManager = service.plugins

    known = [Depends(_ids.known_plugin(manager))]  # before any lock (or file) is taken

    def out(info: PluginInfo) -> PluginOut:
        return PluginOut.model_validate(_state(service, info))

    @api.get("/plugins", tags=_TAGS, summary="Installed plugins")
    def list_plugins() -> list[PluginOut]:
        with translated():
            return [out(info) for info in manager.list()]

    @api.post("/plugins", status_code=201, tags=_TAGS, summary="Install from a requirement")
    def install_plugin(body: PluginInstall) -> PluginOut:
        """Install, or upgrade (a snapshot is taken first; a new version that fails to
        enable is rolled back), a plugin distribution through the cache."""
        requirement = body.requirement.strip()
        _check_requirement(requirement)
        with translated():
            return out(manager.install(requirement, enable=body.enable))

    @api.post(
        "/plugins/upload",
        status_code=201,
        tags=_TAGS,
        summary="Install from an uploaded zip",
        openapi_extra=_UPLOAD_BODY,
        responses={415: {"model": ErrorResponse, "description": "not multipart/form-data"}},
    )
    @_limits.upload
    async def upload_plugin(request: Request, enable: bool = False) -> PluginOut:
        """Send the zip as the multipart field ``file`` (``curl -F file=@plugin.zip``);
        ``?enable=true`` enables it. Larger than ``[web] max-upload-bytes``: 413."""
        directory, path, name = await _receive(request, service.settings.max_upload_bytes)
        try:
            info = await run_in_threadpool(_install_upload, manager, path, name, enable)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return out(info)

    @api.get(
        "/plugins/{plugin_id}",
        tags=_TAGS,
        summary="One plugin and its snapshots",
        dependencies=known,
    )
    def plugin_info(plugin_id: str) -> PluginDetail:
        with translated():
            info = manager.info(plugin_id)
            snapshots = [s.as_dict() for s in manager.snapshots(plugin_id)]
            return PluginDetail.model_validate({**_state(service, info), "snapshots": snapshots})

    @api.patch("/plugins/{plugin_id}", tags=_TAGS, summary="Change its record", dependencies=known)
    def update_plugin(plugin_id: str, body: PluginUpdate) -> PluginOut:
        """Only the fields sent change: ``enabled`` enables or disables it (as the
        ``/enable`` and ``/disable`` routes do); ``arguments`` replaces the arguments
        set before, and a running plugin is reloaded with them (if that fails, the
        previous ones stay and the previous version keeps running: 409)."""
        with translated():
            return out(manager.update(plugin_id, enabled=body.enabled, arguments=body.arguments))

    @api.delete("/plugins/{plugin_id}", tags=_TAGS, summary="Uninstall", dependencies=known)
    def uninstall_plugin(plugin_id: str) -> PluginOut:
        """Disable (``on_disable``), unload, and remove files, state and snapshots; its
        routes are gone at once. Answers with the plugin as it was."""
        with translated():
            return out(manager.uninstall(plugin_id))

    verbs: tuple[tuple[str, str, Callable[[str], PluginInfo]], ...] = (
        ("enable", "Enable (import, on_enable); all or nothing", manager.enable),
        ("disable", "Disable (on_disable, unload); its routes are gone", manager.disable),
        ("reload", "Re-import an enabled plugin; on failure the old one runs on", manager.reload),
    )
    for verb, summary, action in verbs:
        _add_verb(api, verb, summary, action, out, known)

    @api.get(
        "/plugins/{plugin_id}/snapshots",
        tags=_TAGS,
        summary="A plugin's snapshots",
        dependencies=known,
    )
    def list_snapshots(plugin_id: str) -> list[SnapshotOut]:
        with translated():
            return [SnapshotOut.model_validate(s.as_dict()) for s in manager.snapshots(plugin_id)]

    @api.post(
        "/plugins/{plugin_id}/snapshots",
        status_code=201,
        tags=_TAGS,
        summary="Save the plugin's files, manifest and state",
        dependencies=known,
    )
    def create_snapshot(plugin_id: str, body: SnapshotCreate) -> SnapshotOut:
        with translated():
            return SnapshotOut.model_validate(manager.snapshot(plugin_id, body.note).as_dict())

    @api.post(
        "/plugins/{plugin_id}/restore",
        tags=_TAGS,
        summary="Make a snapshot current",
        dependencies=known,
    )
    def restore_snapshot(plugin_id: str, body: SnapshotRestore) -> PluginOut:
        with translated():
            return out(manager.restore(plugin_id, body.snapshot))


def _add_verb(
    api: APIRouter,
    verb: str,
    summary: str,
    action: Callable[[str], PluginInfo],
    out: Callable[[PluginInfo], PluginOut],
    dependencies: list[Any],
) -> None:
    def endpoint(plugin_id: str) -> PluginOut:
        with translated():
            return out(action(plugin_id))

    endpoint.__name__ = f"{verb}_plugin"
    api.add_api_route(
        f"/plugins/{{plugin_id}}/{verb}",
        endpoint,
        methods=["POST"],
        tags=_TAGS,
        summary=summary,
        response_model=PluginOut,
        dependencies=dependencies,
    )


def _state(service: Service, info: PluginInfo) -> dict[str, Any]:
    """The recorded state and arguments, whether it runs here and where its routes are."""
    state = {**info.as_dict(), "arguments": dict(service.plugins.arguments_for(info.id))}
    try:
        service.plugins.get(info.id)
    except PluginError:
        return {**state, "loaded": False, "routes": None}
    router = service.routers.find(info.id)
    routes = service.routers.prefix(info.id) + "/" if router is not None else None
    return {**state, "loaded": True, "routes": routes}


def _check_requirement(text: str) -> None:
    # The manager reads a source that names an existing file, or looks like a path, as
    # a path (lazyext.plugins._sources.is_path): never a file of the server, neither
    # by path nor as a direct reference to a file: URL. Other direct references
    # ("pkg @ https://...") are requirements, refused unless allow-direct-urls.
    scheme = text.partition("@")[2].strip().lower().partition(":")[0]
    if not text or is_path(text) or "file" in scheme.split("+"):  # file:, git+file:
        raise problem(
            422,
            "NotARequirement",
            f"{text!r} is not a requirement (or names a file of the server)",
            "send a requirement such as 'my-plugin>=1'; upload zips to POST /plugins/upload",
        )


async def _receive(request: Request, limit: int) -> tuple[str, str, str]:
    """Stream the upload into a private temporary file: ``(directory, path, name)``.

    The route bounds the whole body (:mod:`lazyext.web._limits`); the file is bounded
    here."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise problem(
            415,
            "UnsupportedMediaType",
            "the upload must be multipart/form-data",
            "send the zip as the form field 'file' (curl -F file=@plugin.zip)",
        )
    try:
        form = await request.form(max_files=1, max_fields=8)
    except (MultiPartException, StarletteHTTPException) as error:
        if isinstance(error, StarletteHTTPException) and error.status_code != 400:
            raise  # a 413 from the bound (lazyext.web._limits)
        raise problem(
            400,
            "MalformedUpload",
            f"the multipart body cannot be parsed: {_reason(error)}",
            "send the zip as the form field 'file' (curl -F file=@plugin.zip)",
        ) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise problem(
                422,
                "MissingFile",
                "no file in the form field 'file'",
                "send the zip as the form field 'file' (curl -F file=@plugin.zip)",
            )
        fields = [key for key, _value in form.multi_items()]
        if fields != ["file"]:  # as JSON bodies forbid unknown fields (the document too)
            raise problem(
                422,
                "UnknownField",
                f"the form has fields {fields!r}; it takes one, 'file'",
                "send the zip as the only form field, 'file' (curl -F file=@plugin.zip)",
            )
        name = _UNSAFE_NAME.sub("_", os.path.basename(upload.filename or "")).lstrip(".")
        directory = tempfile.mkdtemp(prefix="lazyext-upload-")
        path = os.path.join(directory, name or "plugin.zip")
        try:
            await _copy(upload, path, limit)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return directory, path, upload.filename or "plugin.zip"
    finally:
        await form.close()


def _reason(error: Exception) -> str:
    if isinstance(error, StarletteHTTPException):
        return str(error.detail)
    return str(getattr(error, "message", error))


async def _copy(upload: UploadFile, path: str, limit: int) -> None:
    written = 0
    with open(path, "xb") as sink:
        while chunk := await upload.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise too_big(limit, uploading=True)
            sink.write(chunk)


def _install_upload(manager: PluginManager, path: str, name: str, enable: bool) -> PluginInfo:
    try:
        # Not the temporary path (removed once installed): the name it was sent as,
        # made safe for a file name (path, control characters) like the copy's.
        uploaded = f"upload:{os.path.basename(path)}"
        return manager.install(path, enable=enable, source_name=uploaded)
    except LazyextError as error:
        raised = http_error(error)
        # Messages name the temporary file: name the upload instead.
        raised.detail = _relabel(raised.detail, path, name)
        raise raised from error


def _relabel(value: Any, path: str, name: str) -> Any:
    if isinstance(value, str):
        return value.replace(path, name)
    if isinstance(value, list):
        return [_relabel(item, path, name) for item in value]
    if isinstance(value, dict):
        return {key: _relabel(item, path, name) for key, item in value.items()}
    return value
