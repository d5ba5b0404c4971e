"""lit configuration: every ``.mlir`` file under lit/ is a test; FileCheck is the PyPI
``filecheck`` package; ``dynir-opt`` and ``dynir`` come from the active environment."""

import os
import sys

import lit.formats

config.name = "dynir"  # noqa: F821
config.test_format = lit.formats.ShTest()  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
config.excludes = ["Inputs", "lit.cfg.py"]  # noqa: F821

bin_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bin_dir, config.environment.get("PATH", os.environ.get("PATH", ""))])  # noqa: F821
config.substitutions.append(("FileCheck", "filecheck"))  # noqa: F821
config.substitutions.append(("%python", sys.executable))  # noqa: F821
