"""``lazyext pack`` and ``lazyext unpack``: ship a warmed cache to other machines."""

from __future__ import annotations

import argparse
import os
from typing import Any

from lazyext._errors import ConfigError
from lazyext.cli.output import EXIT_OK, load_config, print_json


def register(sub: Any) -> None:
    pack = sub.add_parser(
        "pack", help="write the cached installs of the configured environment to an archive"
    )
    pack.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="archive to write: *.tar.zst (needs zstandard), *.tar.gz or *.tar "
        "(default: lazyext-<platform>.tar.zst, or .tar.gz without zstandard)",
    )
    pack.add_argument(
        "--platform",
        metavar="TAG",
        default=None,
        help="pack the installs of this interpreter tag (default: this interpreter's)",
    )
    pack.add_argument("--json", action="store_true", help="machine-readable output")
    pack.set_defaults(handler=cmd_pack)

    unpack = sub.add_parser(
        "unpack", help="verify an archive from `lazyext pack` and add its installs to the cache"
    )
    unpack.add_argument("file", metavar="FILE", help="the archive")
    unpack.add_argument("--json", action="store_true", help="machine-readable output")
    unpack.set_defaults(handler=cmd_unpack)


def cmd_pack(args: argparse.Namespace) -> int:
    # tarfile, gzip and the archive code (~10 ms): for pack and unpack only.
    from lazyext._pack.archive import default_suffix
    from lazyext._pack.pack import pack

    config = load_config(args)
    platform = args.platform or config.platform
    output = args.output or f"lazyext-{platform}{default_suffix()}"
    report = pack(config, output, platform=platform)
    if args.json:
        print_json(report.as_dict())
        return EXIT_OK
    for line in report.entries:
        print(f"packed {line}")
    print(
        f"{report.path}: {len(report.entries)} installs, {report.files} files, "
        f"{report.bytes_in / 1e6:.1f} MB -> {report.bytes_out / 1e6:.1f} MB "
        f"in {report.seconds:.2f} s"
    )
    return EXIT_OK


def cmd_unpack(args: argparse.Namespace) -> int:
    from lazyext._pack.unpack import unpack

    if not os.path.isfile(args.file):  # bad input: exit 2 (the CLI contract)
        raise ConfigError(f"{args.file}: no such archive")
    config = load_config(args)
    report = unpack(config, args.file)
    if args.json:
        print_json(report.as_dict())
        return EXIT_OK
    for key in report.published:
        print(f"added {key}")
    for key in report.skipped:
        print(f"already cached {key}")
    print(
        f"{report.path}: {len(report.published)} added, {len(report.skipped)} already "
        f"cached, in {report.seconds:.2f} s"
    )
    return EXIT_OK
