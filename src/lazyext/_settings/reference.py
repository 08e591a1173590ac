"""Every setting, described: the configuration reference and the JSON Schema come from here.

The documentation's hook (``docs/_hooks/reference.py``) renders this table and checks it
against the definitions (the fields of ``Settings``, ``Extension``, ``PluginSettings``,
``Maintenance`` and ``[web]``'s keys, and every ``LAZYEXT_*`` name in lazyext's source),
so a key added without a description, or a default changed on one side only, fails
``mkdocs build --strict``.

``default`` is the TOML spelling, checked against the definition's default; ``None``
means "unset"; text in parentheses is a computed default, shown as it is and not checked.
"""

from __future__ import annotations

from typing import NamedTuple

from lazyext._settings.checks import EXPIRED_POLICIES, LINK_MODES


class Setting(NamedTuple):
    section: str  # "" for the top level; else the table: "extensions", "plugins", ...
    key: str
    type: str
    default: str | None
    description: str
    env: str = ""


SETTINGS: tuple[Setting, ...] = (
    # --- top level (lazyext.toml) or [tool.lazyext] (pyproject.toml) ---
    Setting("", "cache-dir", "path", "(the user cache directory)",
            "Where installs are cached: `~/.cache/lazyext` on Linux (`$XDG_CACHE_HOME/lazyext`), "
            "`~/Library/Caches/lazyext` on macOS, platformdirs' user cache directory elsewhere. "
            "Must be yours and writable by no one else.",
            "LAZYEXT_CACHE_DIR"),
    Setting("", "ttl-hours", "number", "24.0",
            "After this many hours a resolved environment is expired; `expired` says what "
            "happens then. A lock file's environment never expires."),
    Setting("", "expired", "string", '"refresh-in-background"',
            'What the first use of an expired environment does: `"refresh-in-background"` '
            '(serve it, resolve again in a thread), `"reinstall"` (wait for a new '
            'resolution) or `"serve"` (leave it to `lazyext refresh`).'),
    Setting("", "lock", "path", None,
            "A `pylock.toml` (written by `lazyext lock`) to install exactly; relative to "
            "the config file. Also `activate(lock=...)`."),
    Setting("", "offline", "boolean", "false",
            "Install from uv's cache and `find-links` only, never from an index.",
            "LAZYEXT_OFFLINE (wins), UV_OFFLINE"),
    Setting("", "index-url", "URL", None,
            "The package index (default: uv's, PyPI). Credentials in it go to uv through "
            "its environment and are redacted everywhere.",
            "UV_DEFAULT_INDEX, UV_INDEX_URL (defaults)"),
    Setting("", "extra-index-urls", "list of URLs", "[]",
            "More indexes, searched after `index-url`.", "UV_EXTRA_INDEX_URL (default)"),
    Setting("", "find-links", "list of paths or URLs", "[]",
            "Directories (relative to the config file) or pages of wheels."),
    Setting("", "no-index", "boolean", "false", "Use `find-links` only."),
    Setting("", "allow-sdist", "boolean", "false",
            "Build source distributions (that runs their code); wheels only otherwise."),
    Setting("", "allow-direct-urls", "boolean", "false",
            "Accept `name @ https://...` requirements, and archive, directory and VCS "
            "sources in a lock (`lock`, or an archive's packed lock)."),
    Setting("", "strict-pth", "boolean", "false",
            "Never execute the `import` lines of installed `.pth` files."),
    Setting("", "install-timeout", "seconds", "300.0",
            "The whole install's limit, retries included; then uv's process group is "
            "killed."),
    Setting("", "lock-timeout", "seconds", "600.0",
            "How long to wait for another process installing the same key."),
    Setting("", "retries", "integer", "2",
            "Retries of transient (network) failures, with backoff."),
    Setting("", "failure-ttl", "seconds", "30.0",
            "How long a process remembers a failed install and fails fast."),
    Setting("", "parallel", "integer", "4",
            "`lazyext warm`: installs at once, when its single uv run fails."),
    Setting("", "cache-read", "list of paths", "[]",
            "Read-only cache layers searched before `cache-dir` (an image's warmed cache).",
            "LAZYEXT_CACHE_READ (os.pathsep-separated)"),
    Setting("", "trust-group", "boolean", "false",
            "Accept group-writable layers (a Kubernetes `fsGroup` volume)."),
    Setting("", "link-mode", "string", None,
            'How uv places files: unset is uv\'s default (clone or hard link); or `"copy"`, '
            '`"hardlink"`, `"clone"`. `"symlink"` is refused.'),
    Setting("", "registry", "list of paths or URLs", "[]",
            "Registries of extensions for `lazyext search` and `lazyext add`: TOML files "
            "(relative to the config file) or `https://` URLs, cached with their ETag and "
            "read from the cache offline. The first registry that names an extension wins."),
    # --- [[extensions]] ---
    Setting("extensions", "name", "string", "(required)",
            "The extension's name: what `lazyext status`, `warm` and `doctor` call it."),
    Setting("extensions", "package", "PEP 508 requirement", None,
            "What to install; absent: a built-in extension that installs nothing."),
    Setting("extensions", "modules", "list of import names", "([name])",
            "The top-level (or dotted) import names that trigger the install."),
    Setting("extensions", "enabled", "boolean", "true",
            "A disabled extension is neither resolved nor installed."),
    Setting("extensions", "arguments", "table", "{}",
            "Free-form data handed to plugins (`lazyext.extension(name).arguments`)."),
    Setting("extensions", "hashes", "list of strings", "[]",
            '`"sha256:<hex>"` of the distribution\'s files; needs an `==` requirement; '
            "switches uv to `--require-hashes`."),
    # --- [plugins] ---
    Setting("plugins", "directory", "path", "(<data dir>/plugins)",
            "Where plugins are installed; relative to the config file."),
    Setting("plugins", "auto-enable", "boolean", "true",
            "`start()` enables what was enabled before, and follows other processes."),
    Setting("plugins", "hot-reload", "boolean", "false",
            "Reload a plugin when its files change; follow other processes' changes."),
    Setting("plugins", "reload-interval", "seconds", "1.0", "Between polls of files and state."),
    Setting("plugins", "reload-debounce", "seconds", "0.5",
            "A change must rest this long before it is reloaded."),
    Setting("plugins", "validate-in-subprocess", "boolean", "false",
            "Import a plugin in a child process (with a timeout) before enabling it."),
    Setting("plugins", "validate-timeout", "seconds", "30.0", "The child's time limit."),
    Setting("plugins", "max-archive-bytes", "integer", "104857600",
            "What one plugin archive may unpack to (100 MiB)."),
    Setting("plugins", "keep-snapshots", "integer", "10",
            "Snapshots kept per plugin, oldest removed first."),
    Setting("plugins", "arguments", "table of tables", "{}",
            "`[plugins.arguments.<id>]`: handed to the plugin's entry object."),
    # --- [maintenance] ---
    Setting("maintenance", "enabled", "boolean", "true",
            "Register the built-in tasks in `lazyext scheduler`, and collect the cache "
            "after installs (`false`: neither)."),
    Setting("maintenance", "refresh-every", "duration", '"1h"',
            "Refresh expired installs; `0` turns the task off."),
    Setting("maintenance", "gc-every", "duration", '"1d"',
            "Collect the cache: the `lazyext.gc` task, and a process that installed "
            "something, when it exits, at most this often; `0` turns both off."),
    Setting("maintenance", "warm-every", "duration", '"6h"',
            "Install configured extensions that are missing."),
    Setting("maintenance", "health-every", "duration", '"1d"',
            "Import each extension in a child process."),
    Setting("maintenance", "gc-grace", "duration", '"1h"',
            "Keep superseded and invalidated installs this long."),
    Setting("maintenance", "unused-days", "number", "30",
            "Evict installs unused this many days (`0`: never)."),
    Setting("maintenance", "max-size", "size", '"0"',
            'Evict least recently used installs beyond this (`"5G"`; `0`: no limit).'),
    Setting("maintenance", "health-timeout", "duration", '"60s"', "Per extension."),
    Setting("maintenance", "election-interval", "duration", '"10s"',
            "How soon another process takes over as the task runner."),
    # --- [tasks] ---
    Setting("tasks", "directory", "path", None,
            "Modules of `@lazyext.tasks.task` functions, stored at `start()`; relative to "
            "the config file."),
    # --- [web] ---
    Setting("web", "host", "string", '"127.0.0.1"',
            "`lazyext serve`'s address; another needs a token."),
    Setting("web", "port", "integer", "8000", "`lazyext serve`'s port."),
    Setting("web", "token-file", "path", None,
            "The API token is this file's first line; relative to the config file.",
            "LAZYEXT_API_TOKEN (wins)"),
    Setting("web", "token", "string", None,
            "The API token itself (prefer the variable or `token-file`); read from the "
            "file, never copied to the cache.", "LAZYEXT_API_TOKEN (wins)"),
    Setting("web", "max-body-bytes", "integer", "1048576",
            "Largest JSON body, and body for the plugins' routes (1 MiB)."),
    Setting("web", "max-upload-bytes", "integer", "33554432",
            "Largest upload to `POST /plugins/upload` (32 MiB)."),
    Setting("web", "prefix", "string", '""', 'Serve the API under this path (`"/manager"`).'),
    Setting("web", "scheduler", "boolean", "true", "The server runs the task scheduler."),
)  # fmt: skip

#: Environment variables that are not a setting's (those are in SETTINGS' ``env``).
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("LAZYEXT_CONFIG", "The config file to use instead of discovering one."),
    ("LAZYEXT_DATA_DIR",
     "Where plugin and task state lives (default: platformdirs' user data directory: "
     "`~/.local/share/lazyext` on Linux, `~/Library/Application Support/lazyext` on macOS)."),
    ("LAZYEXT_PROGRESS", "`0` silences the progress line of long installs."),
    ("LAZYEXT_PROGRESS_AFTER", "Seconds before the progress line appears (default 0.5)."),
    ("LAZYEXT_LOCK_BACKEND",
     "`filelock`: take the per-key install lock with filelock on POSIX too."),
    ("LAZYEXT_API_TOKEN", "The web API's token (see `[web]`)."),
    ("LAZYEXT_CACHE_DIR", "See `cache-dir`."),
    ("LAZYEXT_CACHE_READ", "See `cache-read`."),
    ("LAZYEXT_OFFLINE", "See `offline`."),
)  # fmt: skip


# --- the JSON Schema of lazyext.toml (`lazyext schema`) --------------------------------

#: A setting's ``type`` as JSON Schema (the reference's words are the single definition).
_DURATION: dict[str, object] = {
    "type": ["number", "string"],
    "pattern": r"^\s*\d*\.?\d+\s*[smhdwSMHDW]?\s*$",
}
_SIZE: dict[str, object] = {
    "type": ["integer", "string"],
    "pattern": r"^\s*\d*\.?\d+\s*([kKmMgGtTbB]i?[bB]?)?\s*$",
}
_STRINGS: dict[str, object] = {"type": "array", "items": {"type": "string"}}
_TYPES: dict[str, dict[str, object]] = {
    "path": {"type": "string"},
    "string": {"type": "string"},
    "URL": {"type": "string"},
    "PEP 508 requirement": {"type": "string"},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer", "minimum": 0},
    "number": {"type": "number", "minimum": 0},
    "seconds": {"type": "number", "minimum": 0},
    "duration": _DURATION,
    "size": _SIZE,
    "list of URLs": _STRINGS,
    "list of paths": _STRINGS,
    "list of paths or URLs": _STRINGS,
    "list of strings": _STRINGS,
    "list of import names": _STRINGS,
    "table": {"type": "object"},
    "table of tables": {"type": "object", "additionalProperties": {"type": "object"}},
}
#: Settings whose values are one of a few words.
_CHOICES = {"expired": EXPIRED_POLICIES, "link-mode": LINK_MODES}


def json_schema() -> dict[str, object]:
    """The JSON Schema (2020-12) of ``lazyext.toml``, and of ``[tool.lazyext]`` in
    ``pyproject.toml``: every key of :data:`SETTINGS`, with its type, default and
    description; a key it does not list is an error, as it is for lazyext."""
    tables: dict[str, dict[str, object]] = {}
    for setting in SETTINGS:
        tables.setdefault(setting.section, {})[setting.key] = _property(setting)
    extension_keys = tables.pop("extensions")
    extension = _object(extension_keys, required=["name"])
    short = {key: value for key, value in extension_keys.items() if key != "name"}
    properties = tables.pop("")
    properties["extensions"] = {
        "description": "The extensions: an array of tables ([[extensions]]), or one table "
        'of name = "requirement" (or name = { package = ..., modules = [...] }).',
        "oneOf": [
            {"type": "array", "items": extension},
            {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [{"type": "string"}, _object(short, required=[])]
                },
            },
        ],
    }
    for section, keys in tables.items():
        properties[section] = _object(keys, required=[])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lazyext.toml",
        "description": "lazyext's configuration: lazyext.toml, or [tool.lazyext] in "
        "pyproject.toml.",
        **_object(properties, required=[]),
    }


def _object(properties: dict[str, object], *, required: list[str]) -> dict[str, object]:
    schema: dict[str, object] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _property(setting: Setting) -> dict[str, object]:
    import tomllib  # `lazyext schema` only

    schema = dict(_TYPES[setting.type])
    if setting.key in _CHOICES:
        schema["enum"] = list(_CHOICES[setting.key])
    text = setting.description + (f" Environment: {setting.env}." if setting.env else "")
    schema["description"] = text
    if setting.default is not None and not setting.default.startswith("("):
        schema["default"] = tomllib.loads(f"value = {setting.default}")["value"]
    return schema
