import os
import sys

import lit.formats

config.name = "dynir-example-plugin"  # noqa: F821
config.test_format = lit.formats.ShTest()  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
config.environment["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])  # noqa: F821
for name in ("PYTHONPATH", "HOME"):  # where the plugin was installed, for dynir-opt to find
    if name in os.environ:
        config.environment[name] = os.environ[name]  # noqa: F821
config.substitutions.append(("FileCheck", "filecheck"))  # noqa: F821
