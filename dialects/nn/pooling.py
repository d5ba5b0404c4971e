"""Placeholder: filled in by its owner."""

OPS: list[type] = []
