"""Command line of the study scaffold and the importers.

:func:`add_commands` adds ``new``, ``import-bra``, ``import-offences``,
``import-footfall`` and ``import-excel`` to the pipeline's argparse
subcommands; :func:`run_command` runs one of them (None for any other
command); :func:`unfinished_study` is what ``validate`` prints first for a
study that still has blanks. Nothing heavy is imported until a command runs,
so ``--help`` answers at once. Exit codes as for every command: 0 success,
2 invalid input with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.errors import ValidationError

COMMANDS = ("new", "import-bra", "import-offences", "import-footfall", "import-excel")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the scaffold and importer subcommands to the pipeline's parser.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    p = sub.add_parser(
        "new", help="start a study folder: study.yml, empty input templates, Excel workbook"
    )
    p.add_argument("folder", help="the new study folder (must not exist, or be empty)")

    def study(p: argparse.ArgumentParser) -> None:
        p.add_argument("--study", required=True, help="the study folder to write into")

    p = sub.add_parser("import-bra", help="Brå statistics-database exports -> series.csv")
    study(p)
    p.add_argument(
        "--source", nargs="+", required=True, help="Databasfil export files, or folders of them"
    )
    p.add_argument(
        "--category",
        action="append",
        required=True,
        metavar="CATEGORY=INDICATOR",
        help='a Brå category and the indicator it fills, e.g. "Totalt antal brott=crimes_total"',
    )
    p.add_argument(
        "--place",
        action="append",
        metavar="PLACE_ID=MUNICIPALITY",
        help="a place of study.yml and the municipality whose series it gets (default: places "
        "named after a municipality of the export)",
    )
    p.add_argument(
        "--exposure",
        choices=("auto", "population", "none"),
        default="auto",
        help="population from Brå's rates as exposure (auto: when the export carries rates)",
    )

    p = sub.add_parser(
        "import-offences", help="geocoded offences + place polygons -> series.csv and a map"
    )
    study(p)
    p.add_argument(
        "--offences",
        required=True,
        help="CSV: date, offence, easting/northing or longitude/latitude",
    )
    p.add_argument("--codes", required=True, help="CSV: offence, indicator")
    p.add_argument(
        "--places", required=True, help="GeoJSON or GeoPackage with a place_id attribute"
    )
    p.add_argument("--layer", help="the GeoPackage layer holding the places")
    p.add_argument(
        "--buffer-width",
        type=float,
        metavar="METRES",
        help="make each target's buffer (study.yml) as a ring this wide, minus the places",
    )
    p.add_argument("--first-month", metavar="YYYY-MM", help="first month counted")
    p.add_argument("--last-month", metavar="YYYY-MM", help="last month counted")

    p = sub.add_parser("import-footfall", help="footfall counter exports -> series.csv")
    study(p)
    p.add_argument("--counts", required=True, help="CSV: counter, time, count")
    p.add_argument("--indicator", required=True, help="the footfall indicator of study.yml")
    p.add_argument(
        "--counter",
        action="append",
        metavar="COUNTER=PLACE_ID",
        help="the place a counter counts for (default: the counter's name is a place id)",
    )

    p = sub.add_parser(
        "import-excel",
        help="Excel workbook sheets -> series.csv, survey.csv, inspections.csv, actions.csv",
    )
    study(p)
    p.add_argument("workbook", help="the .xlsx file (the study's indata.xlsx or the same sheets)")


def run_command(args: argparse.Namespace) -> int | None:
    """Run a scaffold or importer command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int or None
        The exit code, or None when the command is not one of these.
    """
    if args.command not in COMMANDS:
        return None
    try:
        if args.command == "new":
            return _new(args)
        result = _import(args)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 2
    from .record import write_import

    record = write_import(args.study, result)
    for name in result.outputs:
        print(f"wrote {Path(args.study) / name}", file=sys.stderr)
    for note in result.notes:
        print(f"  {note}", file=sys.stderr)
    print(f"recorded in {record}", file=sys.stderr)
    return 0


def parse_pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    """``LEFT=RIGHT`` command-line values as pairs, stripped.

    Raises
    ------
    ValidationError
        When a value has no ``=`` or an empty side.
    """
    pairs = []
    for value in values or []:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ValidationError.single(
                option,
                f"'{value}' is not of the form LEFT=RIGHT (e.g. \"Totalt antal brott=crimes_total\")",
            )
        pairs.append((left.strip(), right.strip()))
    return pairs


def _new(args: argparse.Namespace) -> int:
    from .scaffold import missing_steps, new_study

    new_study(args.folder)
    print(f"started the study {args.folder}; to do, in order:", file=sys.stderr)
    for i, step in enumerate(missing_steps(args.folder), start=1):
        print(f"  {i}. {step}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace):
    study = Path(args.study)
    if args.command == "import-bra":
        from .bra import import_bra

        return import_bra(
            study,
            args.source,
            categories=parse_pairs(args.category, "--category"),
            places=parse_pairs(args.place, "--place"),
            exposure=args.exposure,
        )
    if args.command == "import-offences":
        from .offences import import_offences

        return import_offences(
            study,
            args.offences,
            args.codes,
            args.places,
            layer=args.layer,
            buffer_width=args.buffer_width,
            first_month=args.first_month,
            last_month=args.last_month,
        )
    if args.command == "import-footfall":
        from .footfall import import_footfall

        return import_footfall(
            study,
            args.counts,
            indicator=args.indicator,
            counters=parse_pairs(args.counter, "--counter"),
        )
    from .excel import import_workbook

    return import_workbook(study, args.workbook)


def unfinished_study(study_dir: str | Path) -> int | None:
    """Print what an unfinished study still lacks, in order; None when it lacks nothing.

    Parameters
    ----------
    study_dir : str or Path

    Returns
    -------
    int or None
        2 (invalid input) when steps are missing, else None.
    """
    from .scaffold import missing_steps

    steps = missing_steps(study_dir)
    if not steps:
        return None
    print(
        f"error: the study {study_dir} is not complete yet; still to do, in order:", file=sys.stderr
    )
    for i, step in enumerate(steps, start=1):
        print(f"  {i}. {step}", file=sys.stderr)
    return 2
