"""Package layout: `dynir/` is the core; `dialects/` and `passes/` install as
`dynir.dialects` and `dynir.passes`. The package list is computed so that no
sub-package silently goes missing from the wheel (tests/test_wheel.py checks it)."""

from setuptools import find_packages, setup

core = find_packages(include=["dynir", "dynir.*"])
dialects = ["dynir." + p for p in find_packages(include=["dialects", "dialects.*"])]
passes = ["dynir." + p for p in find_packages(include=["passes", "passes.*"])]


def _source_dir(package: str) -> str:
    for top in ("dialects", "passes"):
        if package == f"dynir.{top}" or package.startswith(f"dynir.{top}."):
            return package.removeprefix("dynir.").replace(".", "/")
    return package.replace(".", "/")


packages = core + dialects + passes
setup(
    packages=packages,
    package_dir={p: _source_dir(p) for p in dialects + passes},
    package_data={"dynir": ["examples/*.mlir", "examples/*.onnx"]},
)
