"""The compiled-config memo: ``<cache root>/compiled.marshal``, one value per config.

:mod:`.load` finds a config and its fingerprint; this module keeps the values. A value
is obeyed without parsing the config again, so:

* each is sealed with a keyed digest (BLAKE2b, 16 bytes) whose key, ``memo.key`` (32
  random bytes, 0600), lives in the data directory, not in the cache: a value edited
  without the key (or a cache copied, restored or shared from elsewhere) is rebuilt
  from the config, never obeyed. Where the data directory cannot be used, no memo is
  (each process parses its config);
* the digests are checked once per memo file and key, not on every ``activate()``
  (``_blake2`` alone takes ~0.3 ms to load; benchmark B1): the first lookup of a file
  checks every value and records in ``memo.seen``, next to the key, the file's identity
  (path, device, inode, size, mtime, ctime), the key file's, and which values failed;
  a value that passed in a file with that identity, under that key, is not checked
  again. On POSIX any write moves the ctime on, and only root can set it back: an
  edited memo is checked again, and a new key (another file) vouches for nothing. A
  file changed less than :data:`_SETTLED_NS` ago is not recorded yet (its ctime may
  not have moved on: git's "racily clean" entries). Not done on Windows (``st_ctime``
  is the creation time); on a file system with no change time of its own (sshfs and
  FAT report the mtime) a restored mtime would pass;
* each is checked as data before it is used (:func:`_valid`), a column at a time;
* the file is read only from a cache root that passes the trust checks, only if it is
  a regular file of this user's that no one else can write.

Values are marshalled on their own: loading the memo stays cheap however many configs
share the cache; only the one that matches is decoded.

Past 400 lines: its halves (sealing, checking) would both load on every ``activate()``,
one module more (~0.1 ms, benchmark B1).
"""

from __future__ import annotations

import marshal
import os
import stat
import time

from lazyext import _columns
from lazyext._record import fields_of, from_columns
from lazyext._settings.config import Config, Extension, Plan, Settings, default_data_root
from lazyext._settings.names import EnvKey
from lazyext._trust import ensure_dir, ensure_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Final, TypeAlias

    #: A memo file's path, device, inode, size, mtime and ctime (:func:`_identity`).
    Identity: TypeAlias = tuple[str, int, int, int, int, int]
    #: The key file's device, inode and ctime: a new key is another file.
    KeyId: TypeAlias = tuple[int, int, int]
    #: This user's memo key, the data directory that holds it, and the key's identity.
    Keyring: TypeAlias = tuple[bytes, str, KeyId]

NAME: Final = "compiled.marshal"
_LIMIT: Final = 64
_KEY_NAME: Final = "memo.key"
_KEY_BYTES: Final = 32
_DIGEST_BYTES: Final = 16
_SEEN_NAME: Final = "memo.seen"
_SEEN_LIMIT: Final = 16
#: A ctime is a tick of the kernel's clock (a whole second or two on some file
#: systems): a file changed more recently than this may change again unseen.
_SETTLED_NS: Final = 2_000_000_000
#: memo.seen holds at most _SEEN_LIMIT short entries: anything larger is not lazyext's.
_SEEN_BYTES: Final = 65536
_VOUCHING: Final = os.name == "posix"  # Windows: st_ctime is the creation time


def memo_key() -> Keyring | None:
    """This user's key for memo values (made on first use), the data directory that
    holds it and the key file's identity; or None: no memo."""
    try:
        directory = ensure_dir(default_data_root(), what="data directory")
    except (OSError, ValueError):  # LazyextError subclasses ValueError or OSError
        return None
    path = os.path.join(directory, _KEY_NAME)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    for _ in range(2):
        try:
            with open(os.open(path, flags), "rb") as handle:
                info = os.fstat(handle.fileno())
                data = handle.read(_KEY_BYTES + 1)
            if not stat.S_ISREG(info.st_mode) or not _secret(info) or len(data) != _KEY_BYTES:
                return None
            return data, directory, (info.st_dev, info.st_ino, info.st_ctime_ns)
        except FileNotFoundError:
            _make_key(path)
        except OSError:
            return None
    return None


def _make_key(path: str) -> None:
    """Write a new key, whole or not at all (a racing process's key wins)."""
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, 0o600), "wb") as handle:
            handle.write(os.urandom(_KEY_BYTES))
        os.link(temporary, path)  # fails if another process made one meanwhile
    except OSError:
        pass
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _digest(fingerprint: str, body: bytes, key: bytes) -> bytes:
    try:  # the C module alone: hashlib would load OpenSSL (~3 ms)
        from _blake2 import blake2b
    except ImportError:  # an interpreter built without it
        from hashlib import blake2b
    # The fingerprint is sealed with the body: a value moved under another config's
    # fingerprint fails. (A fingerprint is a repr(): it holds no NUL.)
    data = fingerprint.encode("utf-8", "surrogatepass") + b"\0" + body
    return blake2b(data, key=key, digest_size=_DIGEST_BYTES, person=b"lazyext-memo").digest()


def sealed(fingerprint: str, body: bytes, key: bytes) -> bytes:
    return _digest(fingerprint, body, key) + body


def unsealed(fingerprint: str, value: bytes, key: bytes) -> bytes:
    """The body of the memo value stored under ``fingerprint`` if its digest is this
    user's, else ValueError."""
    from _operator import _compare_digest  # hmac.compare_digest, without hmac's imports

    body = value[_DIGEST_BYTES:]
    if len(value) <= _DIGEST_BYTES or not _compare_digest(
        value[:_DIGEST_BYTES], _digest(fingerprint, body, key)
    ):
        raise ValueError("memo value: not sealed with this user's key")
    return body


def lookup(
    memo_file: str, fingerprint: str, keyring: Keyring
) -> tuple[dict[str, Any], Config | None]:
    """The memo's values, and the config stored under ``fingerprint`` if it is sound."""
    key, data_dir, key_id = keyring
    values, identity = _read_memo(memo_file) if _trusted(os.path.dirname(memo_file)) else ({}, None)
    cached = values.get(fingerprint)
    if type(cached) is not bytes:
        return values, None
    try:
        position = list(values).index(fingerprint)
        if identity is not None and _vouched(data_dir, identity, key_id, position):
            body = cached[_DIGEST_BYTES:]  # this value of this very file passed
        else:
            body = unsealed(fingerprint, cached, key)
            if identity is not None and _VOUCHING:
                _vouch(data_dir, (identity, key_id), values, key)
        return values, decode(_valid(marshal.loads(body)))
    except (TypeError, ValueError, IndexError, EOFError):
        return values, None  # edited, from an older layout, or damaged: parsed again


def _seen(data_dir: str) -> list[tuple[Any, ...]]:
    """``memo.seen``'s entries: ``((file identity, key identity), failed positions)``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        with open(os.open(os.path.join(data_dir, _SEEN_NAME), flags), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not _private(info) or info.st_size > _SEEN_BYTES:
                return []
            seen = marshal.loads(handle.read(_SEEN_BYTES))
    except (OSError, EOFError, ValueError, TypeError):
        return []
    if type(seen) is not tuple:
        return []
    return [entry for entry in seen if _an_entry(entry)]


def _an_entry(entry: object) -> bool:
    """``((file identity, key identity), failed positions)``, each a tuple."""
    return (
        type(entry) is tuple
        and len(entry) == 2
        and _columns.typed(entry, tuple)
        and len(entry[0]) == 2
        and _columns.typed(entry[0], tuple)
    )


def _vouched(data_dir: str, identity: Identity, key_id: KeyId, position: int) -> bool:
    """Did the value at ``position`` of this very file pass, under this very key?"""
    for vouched, failed in _seen(data_dir):
        if vouched == (identity, key_id):
            return position not in failed
    return False


def _vouch(
    data_dir: str, vouched: tuple[Identity, KeyId], values: dict[str, Any], key: bytes
) -> None:
    """Record in ``memo.seen`` which values of this file pass under this key."""
    if time.time_ns() - vouched[0][-1] < _SETTLED_NS:
        return  # changed just now: it may change again within one tick of its ctime
    failed = []
    for position, (fingerprint, value) in enumerate(values.items()):
        try:
            unsealed(fingerprint, value, key)
        except (TypeError, ValueError, AttributeError):  # AttributeError: not a str
            failed.append(position)  # another key's (another data directory), or edited
    kept = [entry for entry in _seen(data_dir) if entry[0][0][:1] != vouched[0][:1]]
    _write_private(
        os.path.join(data_dir, _SEEN_NAME), (*kept[-(_SEEN_LIMIT - 1) :], (vouched, tuple(failed)))
    )


def _trusted(root: str) -> bool:
    """A memo is used without revalidation: only from a root that passes the checks."""
    try:
        ensure_root(root)
    except (OSError, ValueError):  # ValueError: a NUL in the path (parsing reports it)
        return False
    return True


def _read_memo(memo_file: str) -> tuple[dict[str, Any], Identity | None]:
    """The memo's values, and the identity of the file they were read from (None if
    it changed while being read)."""
    # O_NONBLOCK: a FIFO planted here would block open() forever; it is refused below.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(memo_file, flags)
    except OSError:
        return {}, None
    try:
        with open(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not _private(info):
                return {}, None  # not a file, or someone else could have written it
            # loads(read()): marshal.load(file) reads piecemeal, ~10x slower (B1).
            memo = marshal.loads(handle.read())
            identity: Identity | None = _identity(memo_file, info)
            if _identity(memo_file, os.fstat(handle.fileno())) != identity:
                identity = None  # written to while read: not vouched for
    except (OSError, EOFError, ValueError, TypeError):
        return {}, None
    return (memo, identity) if isinstance(memo, dict) else ({}, None)


def _identity(memo_file: str, info: os.stat_result) -> Identity:
    """What changes with every write to the file; the ctime last (:func:`_vouch`)."""
    return (memo_file, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


# -- the memo is data: every value is checked before it is used --------------------------
#
# A memo value decodes to ``(settings, plans, platform, source, tables, env_key)``; the
# plans are checked a column at a time (see :mod:`lazyext._columns`).

_SETTING_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "str": lambda value: _columns.strs([value]),
    "str | None": lambda value: _columns.optional_strs([value]),
    "bool": lambda value: type(value) is bool,
    "int": lambda value: type(value) is int,
    "float": lambda value: type(value) in (int, float),
    "tuple[str, ...]": lambda value: _columns.string_lists([value]),
}

#: One check per element of a plan in the memo (see _encode), in order, each given the
#: column of that element over every plan.
_PLAN_COLUMNS: Final[tuple[tuple[str, Callable[[Sequence[Any]], bool]], ...]] = (
    ("name", _columns.file_names),
    ("package", _columns.optional_strs),
    ("modules", _columns.module_lists),  # tuples (see _encode), as Extension keeps them
    ("enabled", lambda values: _columns.typed(values, bool)),
    ("arguments", lambda values: _columns.typed(values, dict)),
    ("hashes", lambda values: _columns.string_lists(values, kinds=(tuple,))),
    ("requirement", _columns.strs),
    ("dist", _columns.strs),
    ("specifier", _columns.strs),
    ("key", _columns.keys_or_empty),
    ("marker_ok", lambda values: _columns.typed(values, bool)),
)

#: One row per element of a memo value, in order.
_MEMO_FIELDS: Final[tuple[tuple[str, Callable[[Any], bool]], ...]] = (
    ("settings", lambda value: type(value) is tuple and len(value) == len(fields_of(Settings))),
    ("plans", lambda value: type(value) is tuple),
    ("platform", lambda value: _columns.file_names([value])),
    ("source", lambda value: _columns.strs([value])),
    ("tables", lambda value: type(value) is dict),
    ("env_key", lambda value: _columns.keys_or_empty([value])),
)


def _valid(data: object) -> tuple[Any, ...]:
    """``data`` if it is a well-formed memo value; ValueError (rebuild) if not."""
    if type(data) is not tuple or len(data) != len(_MEMO_FIELDS):
        raise ValueError("memo value: not a tuple of the expected length")
    for (name, check), value in zip(_MEMO_FIELDS, data, strict=True):
        if not check(value):
            raise ValueError(f"memo {name}: {value!r:.80} is not valid")
    annotations = Settings.__annotations__
    for name, value in zip(fields_of(Settings), data[0], strict=True):
        setting_check = _SETTING_CHECKS.get(annotations[name])
        if setting_check is None or not setting_check(value):
            raise ValueError(f"memo setting {name}: {value!r:.80} is not {annotations[name]}")
    if not os.path.isabs(data[0][0]):
        raise ValueError("memo setting cache_dir: not an absolute path")
    plans = _columns.rows(data[1], len(_PLAN_COLUMNS))
    columns = _columns.columns(plans, len(_PLAN_COLUMNS))
    for (name, column_check), column in zip(_PLAN_COLUMNS, columns, strict=True):
        if not column_check(column):
            raise ValueError(f"memo plan {name}: a value is not valid")
    if any(
        key == "" and package is not None
        for package, key in zip(columns[1], columns[9], strict=True)
    ):
        raise ValueError("memo plan: a package without a cache key")
    return data


def write(
    memo_file: str, memo: dict[str, Any], fingerprint: str, config: Config, key: bytes
) -> None:
    """Best effort: a lost update only costs the next process one parse."""
    from lazyext._settings.secrets import secret_urls  # only on a memo miss

    if secret_urls(config.settings):
        return  # never on disk: a config with credentials is parsed in every process
    try:
        encoded = encode(config)
        # Only a root that passed the safety checks holds a memo: a memo is trusted
        # without revalidation, so it must not be writable by anyone else.
        ensure_root(os.path.dirname(memo_file))
    except (ValueError, OSError, PermissionError):  # ConfigError is a ValueError
        return
    memo = dict(list(memo.items())[-(_LIMIT - 1) :])
    memo[fingerprint] = sealed(fingerprint, marshal.dumps(encoded), key)
    _write_private(memo_file, memo)


def _write_private(path: str, value: dict[str, Any] | tuple[Any, ...]) -> None:
    """Replace ``path`` with ``value`` marshalled, 0600 (index URLs may carry
    credentials); best effort."""
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"  # unique per thread too
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, 0o600), "wb") as handle:
            marshal.dump(value, handle)
        os.replace(temporary, path)
    except OSError:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _private(info: os.stat_result) -> bool:
    """Owned by this user and writable by no one else (where POSIX says who)."""
    if not hasattr(os, "geteuid"):
        return True
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _secret(info: os.stat_result) -> bool:
    """Owned by this user, readable and writable by no one else (the key)."""
    return _private(info) and not (hasattr(os, "geteuid") and info.st_mode & 0o044)


def encode(config: Config) -> tuple[Any, ...]:
    settings = tuple(getattr(config.settings, name) for name in fields_of(Settings))
    plans = tuple(
        (
            plan.extension.name,
            plan.extension.package,
            tuple(plan.extension.modules),
            plan.extension.enabled,
            dict(plan.extension.arguments),
            tuple(plan.extension.hashes),
            plan.requirement,
            plan.dist,
            plan.specifier,
            plan.key,
            plan.marker_ok,
        )
        for plan in config.plans
    )
    # No secrets on disk: [web] token stays out of the memo; lazyext.web reads it from
    # the config file when it needs it (lazyext.web._settings).
    tables = {
        n: {k: v for k, v in t.items() if (n, k) != ("web", "token")}
        for n, t in config.tables.items()
    }
    # marshal refuses what it cannot represent (datetimes in arguments, say): probe now.
    marshal.dumps((settings, plans, tables))
    return (settings, plans, config.platform, config.source, tables, config.env_key)


def decode(data: tuple[Any, ...]) -> Config:
    raw_settings, raw_plans, platform, source, tables, env_key = data
    settings = Settings(**dict(zip(fields_of(Settings), raw_settings, strict=True)))
    # Validated values in their stored form (tuples where a field holds a tuple): records
    # built a column at a time, without __init__ (benchmarks B1 and B7).
    columns = _columns.columns(raw_plans, len(_PLAN_COLUMNS))
    extensions = from_columns(Extension, columns[:6])
    plans = from_columns(Plan, (extensions, *columns[6:]))
    return Config(
        settings=settings,
        plans=tuple(plans),
        platform=platform,
        source=source,
        tables=tables,
        env_key=EnvKey(str(env_key)),
    )
