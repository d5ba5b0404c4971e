"""Command-line tools: ``dynir-opt`` (opt.py) and ``dynir`` (main.py)."""
