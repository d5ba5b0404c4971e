"""``dynir bench``'s machinery: what to time (``suite``), how to time it fairly
(``timing``), the machine's limits (``machine``), one row (``runner``), the results and
their JSON (``results``), and the tables (``table``).

    from dynir.bench.suite import suite_cases
    from dynir.bench.runner import Settings, run_case
    result = run_case(suite_cases("tiny")[0], Settings(threads=2))
    result.dynir_ms, result.ort_ms, result.ratio
"""
