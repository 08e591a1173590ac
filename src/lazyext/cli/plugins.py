"""``lazyext plugins ...``: the plugin lifecycle from the command line.

Each command works on the shared state, like the API. Commands that enable a plugin
(``enable``, ``install --enable``, ``reload``, ``restore``) import it and run its
``on_enable`` here, to prove that it works, and its ``on_disable`` when the command
ends; applications running a :class:`lazyext.PluginManager` with hot reload follow the
change. Exit codes: 0 success, 1 the operation failed (a hook raised, an install
failed), 2 bad input (unknown plugin or snapshot, invalid or unsafe plugin).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from lazyext.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    failure,
    load_config,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from lazyext.plugins import PluginInfo, PluginManager, SnapshotInfo


_ID = "the plugin's id (lazyext plugins list)"


def register(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--directory", metavar="DIR", help="the plugins directory (default: [plugins] directory)"
    )
    plugins = sub.add_parser(
        "plugins", help="plugins: list, info, install, enable, disable, reload, snapshots"
    )
    verbs = plugins.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    def verb(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        parser = verbs.add_parser(name, help=text, parents=[common])
        parser.set_defaults(handler=handler)
        return parser

    verb("list", cmd_list, "installed plugins and their state").add_argument(
        "--json", action="store_true", help="machine-readable output"
    )
    info = verb("info", cmd_info, "one plugin: manifest, state, path, snapshots")
    info.add_argument("plugin_id", metavar="ID", help=_ID)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    install = verb("install", cmd_install, "install or upgrade from a folder, zip or requirement")
    install.add_argument("source", metavar="SOURCE", help="folder, .zip/.whl, or requirement")
    install.add_argument("--enable", action="store_true", help="enable it after installing")
    install.add_argument(
        "--editable", action="store_true", help="run from the folder itself (edits are reloaded)"
    )
    install.add_argument("--json", action="store_true", help="machine-readable output")
    validate = verb("validate", cmd_validate, "check a plugin folder or zip; runs none of it")
    validate.add_argument("source", metavar="PATH", help="folder or .zip/.whl")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    for name, handler, text in (
        ("enable", cmd_enable, "import and run on_enable; recorded as enabled"),
        ("disable", cmd_disable, "recorded as disabled; running applications unload it"),
        ("uninstall", cmd_uninstall, "disable and remove files, state and snapshots"),
        ("reload", cmd_reload, "re-import; running applications reload it too"),
    ):
        verb(name, handler, text).add_argument("plugin_ids", nargs="+", metavar="ID", help=_ID)
    snapshot = verb("snapshot", cmd_snapshot, "save the plugin's files, manifest and state")
    snapshot.add_argument("plugin_id", metavar="ID", help=_ID)
    snapshot.add_argument("--note", default="", help="a note kept with the snapshot")
    snapshot.add_argument("--json", action="store_true", help="machine-readable output")
    snapshots = verb("snapshots", cmd_snapshots, "a plugin's snapshots")
    snapshots.add_argument("plugin_id", metavar="ID", help=_ID)
    snapshots.add_argument("--json", action="store_true", help="machine-readable output")
    restore = verb("restore", cmd_restore, "make a snapshot current again (atomically)")
    restore.add_argument("plugin_id", metavar="ID", help=_ID)
    restore.add_argument(
        "snapshot_id", metavar="SNAPSHOT", type=int, help="its number (lazyext plugins snapshots)"
    )
    restore.add_argument("--json", action="store_true", help="machine-readable output")


def _manager(args: argparse.Namespace) -> PluginManager:
    from lazyext.plugins import PluginManager

    return PluginManager(load_config(args), directory=args.directory)


def _run(args: argparse.Namespace, action: Callable[[PluginManager], int]) -> int:
    """Run ``action`` with a manager. An unknown id raises PluginNotFound, a
    LookupError: the command line's usage error (exit 2), in its one error shape."""
    with _manager(args) as manager:
        return action(manager)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _row(info: PluginInfo) -> dict[str, Any]:
    error = info.last_error or ""
    return {
        "id": info.id,
        "version": info.version,
        "status": info.status,
        "name": info.name,
        "installed": _when(info.installed_at),
        "last_error": error if len(error) <= 60 else error[:57] + "...",
    }


def cmd_list(args: argparse.Namespace) -> int:
    def action(manager: PluginManager) -> int:
        plugins = manager.list()
        if args.json:
            print_json({"plugins": [info.as_dict() for info in plugins]})
        else:
            columns = ("id", "version", "status", "name", "installed", "last_error")
            print_table([_row(info) for info in plugins], columns)
        return EXIT_OK

    return _run(args, action)


def cmd_info(args: argparse.Namespace) -> int:
    def action(manager: PluginManager) -> int:
        from lazyext.plugins._editable import is_editable

        info = manager.info(args.plugin_id)
        snapshots = manager.snapshots(args.plugin_id)
        editable = is_editable(manager.root, info.path)
        if args.json:
            listed = [s.as_dict() for s in snapshots]
            print_json({"plugin": {**info.as_dict(), "editable": editable, "snapshots": listed}})
            return EXIT_OK
        manifest = info.manifest
        for label, value in (
            ("id", info.id),
            ("name", info.name),
            ("version", info.version),
            ("description", info.description),
            ("author", info.author),
            ("status", info.status),
            ("entry", manifest.entry),
            ("modules", ", ".join(manifest.modules)),
            ("dependencies", ", ".join(info.dependencies) or "(none)"),
            ("installed at", _when(info.installed_at)),
            ("source", info.source),
            ("path", info.path + ("  (editable: runs from this folder)" if editable else "")),
            ("snapshots", len(snapshots)),
            ("last error", info.last_error or ""),
        ):
            print(f"{label + ':':14}{value}")
        return EXIT_OK

    return _run(args, action)


def cmd_install(args: argparse.Namespace) -> int:
    # A failed enable (PluginEnableError) is the operation failing: exit 1, with the
    # command line's error document.
    def action(manager: PluginManager) -> int:
        info = manager.install(args.source, enable=args.enable, editable=args.editable)
        if args.json:
            print_json({"plugin": info.as_dict()})
        else:
            print(f"installed {info.id} {info.version} ({info.status}) in {info.path}")
        return EXIT_OK

    return _run(args, action)


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 when the plugin would install, 2 (bad input) with every problem if not."""

    def action(manager: PluginManager) -> int:
        result = manager.validate(args.source)
        if args.json:
            document: dict[str, Any] = {"validation": result.as_dict()}
            if not result.ok:
                count = len(result.problems)
                message = f"{result.source}: {count} problem(s)"
                document["error"] = failure("ManifestError", message, result.problems)
            print_json(document)
        elif result.ok and result.manifest is not None:
            manifest = result.manifest
            print(f"ok: {manifest.id} {manifest.version}, imported as {manifest.package}")
        else:
            print(f"{result.source}: {len(result.problems)} problem(s):", file=sys.stderr)
            for problem in result.problems:
                print(f"  - {problem}", file=sys.stderr)
        return EXIT_OK if result.ok else EXIT_USAGE

    return _run(args, action)


def _each(args: argparse.Namespace, verb: str, call: Callable[[PluginManager, str], Any]) -> int:
    """Apply ``call`` to every id; go on after a failure, exit with the worst status.

    Unknown ids are refused first, all of them, with nothing done (exit 2, the one error
    shape of an unknown name)."""
    from lazyext._errors import ConfigError, LazyextError
    from lazyext.plugins import PluginNotFound

    status = EXIT_OK
    rows: list[dict[str, Any]] = []  # --json: {"action", "plugins": [{id, ok, version, error}]}
    errors: list[BaseException] = []
    with _manager(args) as manager:
        installed = {info.id for info in manager.list()}
        unknown = [plugin_id for plugin_id in args.plugin_ids if plugin_id not in installed]
        if unknown:
            names = " or ".join(map(repr, unknown))
            raise PluginNotFound(f"no plugin {names} is installed", plugin_id=unknown[0])
        for plugin_id in args.plugin_ids:
            try:
                result = call(manager, plugin_id)
            except LazyextError as error:
                print(f"lazyext: {error}", file=sys.stderr)
                bad_input = isinstance(error, (PluginNotFound, ConfigError))
                status = max(status, EXIT_USAGE if bad_input else EXIT_FAILURE)
                rows.append({"id": plugin_id, "ok": False, "version": "", "error": str(error)})
                errors.append(error)
                continue
            version = getattr(result, "version", "")
            rows.append({"id": plugin_id, "ok": True, "version": version, "error": ""})
            if not args.json:
                print(f"{verb} {plugin_id} {version}".rstrip())
    if args.json:
        document: dict[str, Any] = {"action": verb, "plugins": rows}
        if errors:
            failed = [row["id"] for row in rows if not row["ok"]]
            message = f"{len(failed)} of {len(rows)} plugins failed: {', '.join(failed)}"
            problems = [f"{row['id']}: {row['error']}" for row in rows if not row["ok"]]
            document["error"] = failure(type(errors[0]).__name__, message, problems)
        print_json(document)
    return status


def cmd_enable(args: argparse.Namespace) -> int:
    return _each(args, "enabled", lambda manager, plugin_id: manager.enable(plugin_id))


def cmd_disable(args: argparse.Namespace) -> int:
    return _each(args, "disabled", lambda manager, plugin_id: manager.disable(plugin_id))


def cmd_uninstall(args: argparse.Namespace) -> int:
    return _each(args, "uninstalled", lambda manager, plugin_id: manager.uninstall(plugin_id))


def cmd_reload(args: argparse.Namespace) -> int:
    return _each(args, "reloaded", lambda manager, plugin_id: manager.reload(plugin_id))


def _snapshot_row(snapshot: SnapshotInfo) -> dict[str, Any]:
    return {
        "snapshot": snapshot.id,
        "version": snapshot.version,
        "created": _when(snapshot.created_at),
        "enabled": bool(snapshot.state.get("enabled")),
        "note": snapshot.note,
    }


def cmd_snapshot(args: argparse.Namespace) -> int:
    def action(manager: PluginManager) -> int:
        snapshot = manager.snapshot(args.plugin_id, args.note)
        if args.json:
            print_json({"snapshot": snapshot.as_dict()})
        else:
            print(f"snapshot {snapshot.id} of {args.plugin_id} {snapshot.version}")
        return EXIT_OK

    return _run(args, action)


def cmd_snapshots(args: argparse.Namespace) -> int:
    def action(manager: PluginManager) -> int:
        snapshots = manager.snapshots(args.plugin_id)
        if args.json:
            print_json({"snapshots": [snapshot.as_dict() for snapshot in snapshots]})
        else:
            rows = [_snapshot_row(snapshot) for snapshot in snapshots]
            print_table(rows, ("snapshot", "version", "created", "enabled", "note"))
        return EXIT_OK

    return _run(args, action)


def cmd_restore(args: argparse.Namespace) -> int:
    def action(manager: PluginManager) -> int:
        info = manager.restore(args.plugin_id, args.snapshot_id)
        if args.json:
            print_json({"plugin": info.as_dict()})
        else:
            print(
                f"restored {info.id} {info.version} ({info.status}) "
                f"from snapshot {args.snapshot_id}"
            )
        return EXIT_OK

    return _run(args, action)
