"""A dynir plugin: what dynir-opt finds through the ``dynir.plugins`` entry point."""

from dynir.plugins import Plugin


def plugin() -> Plugin:
    from dynir_example_plugin.dialect import DEMO
    from dynir_example_plugin.fold_double_relu import FoldDoubleReluPass

    return Plugin(dialects=[DEMO], passes={FoldDoubleReluPass.name: lambda: FoldDoubleReluPass})
