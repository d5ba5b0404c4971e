"""``dynir example [NAME]``: list the bundled examples, or print the path of one.

    $ dynir example
    conv_block
    $ dynir-opt "$(dynir example conv_block)"     # same as: dynir-opt example:conv_block
"""

from __future__ import annotations

import argparse

from dynir import examples

NAME = "example"
HELP = "list the bundled example programs, or print the path of one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="an example name (see the list without it)")


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        for name in examples.names():
            print(name)
        return 0
    print(examples.path(args.name))
    return 0
