"""The compile report: one self-contained HTML page showing what dynir did to a model.

``CompileRecorder`` collects the IR after every pass, per-pass time, the passes'
remarks and each kernel's origin; ``write_report`` renders them (``dynir/report/html.py``).
Drivers: ``dynir.compile(..., report="out.html")``, ``dynir-opt --report out.html``,
``dynir demo``.
"""

from dynir.report.html import render_report, write_report
from dynir.report.recorder import CompileRecorder, KernelOrigin, Snapshot, kernel_origins, run_pipeline, timed_stage

__all__ = ["CompileRecorder", "KernelOrigin", "Snapshot", "kernel_origins", "render_report", "run_pipeline",
           "timed_stage", "write_report"]
