"""dynir's dialects: ``nn`` (tensor level), later ``fusion``, ``quant``, ``buf``.

Import them as ``dynir.dialects.<name>``, never as top-level ``dialects`` (that would load
a second copy of every class and break ``isinstance``).
"""
