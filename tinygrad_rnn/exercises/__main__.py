"""``python -m tinygrad_rnn.exercises list | start NAME [FILE] | check NAME [FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import EXERCISES, ExerciseFailure, check_file


def first_line(module) -> str:
    return module.__doc__.strip().splitlines()[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_rnn.exercises",
                                     description="The course's exercises and their checkers.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the exercises")
    for command, text in (("start", "write a template solution file"), ("check", "check a solution")):
        p = sub.add_parser(command, help=text)
        p.add_argument("name", choices=sorted(EXERCISES), metavar="NAME")
        p.add_argument("file", nargs="?", help="the solution file (default: NAME.py)")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, m in EXERCISES.items():
            print(f"{name:18} docs/{m.PAGE:16} {first_line(m)}")
        return 0
    path = Path(args.file or f"{args.name}.py")
    exercise = EXERCISES[args.name]
    if args.command == "start":
        if path.exists():
            parser.error(f"{path} exists; not overwriting it (check it with `check {args.name} {path}`)")
        path.write_text(f'"""{exercise.__doc__.strip()}\n"""\n\n{exercise.TEMPLATE}', encoding="utf-8")
        print(f"wrote {path}: fill in {exercise.FUNCTION}(), then run "
              f"python -m tinygrad_rnn.exercises check {args.name} {path}")
        return 0
    try:
        print(f"PASS {args.name}: {check_file(args.name, path)}")
        return 0
    except ExerciseFailure as e:
        print(f"FAIL {args.name}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
