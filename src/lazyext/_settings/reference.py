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
            "Accept `name @ https://...` requirements."),
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
            "Register the built-in tasks in `lazyext scheduler`."),
    Setting("maintenance", "refresh-every", "duration", '"1h"',
            "Refresh expired installs; `0` turns the task off."),
    Setting("maintenance", "gc-every", "duration", '"1d"', "Collect the cache."),
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
