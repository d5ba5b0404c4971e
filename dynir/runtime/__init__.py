"""The runtime: what runs a compiled model and decides when to compile again.

- ``compiled_model.py``: ``CompiledModel``, the guards and the dispatch of each call;
- ``specialize.py``: symbols (tied dims), the specialisation policy, ``refine_types``;
- ``executable.py``: the host plan of one specialisation and the kernel launches;
- ``artefact.py``: a specialisation as JSON + object code (no pickle);
- ``cache.py``: the persistent compile cache (key, checksums, atomic writes, explain);
- ``ledger.py``: why each specialisation exists, and ``model.stats``.
"""
