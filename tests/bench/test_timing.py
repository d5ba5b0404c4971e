"""``time_interleaved``: alternating blocks, a discarded first call per block, a pause
before each block, and a time budget that never cuts below ``MIN_RUNS``."""

from __future__ import annotations

from dynir.bench.timing import MIN_RUNS, TimingPlan, median_ms, time_interleaved


class FakeClock:
    """Each call of a runner advances time by that runner's cost; sleeps are logged."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.log.append(f"pause {seconds}")
        self.now += seconds

    def runner(self, name: str, cost: float):  # type: ignore[no-untyped-def]
        def call() -> None:
            self.log.append(name)
            self.now += cost

        return call


def test_blocks_alternate_and_first_call_of_each_block_is_discarded() -> None:
    fake = FakeClock()
    runners = {"a": fake.runner("a", 0.01), "b": fake.runner("b", 0.02)}
    samples = time_interleaved(runners, TimingPlan(runs=4, block=2, pause_s=0.3), clock=fake.clock, sleep=fake.sleep)
    # 2 blocks per runner, each: pause, 1 discarded call, 2 timed calls
    assert fake.log == ["pause 0.3", "a", "a", "a", "pause 0.3", "b", "b", "b"] * 2
    assert len(samples["a"]) == 4 and len(samples["b"]) == 4
    assert all(abs(s - 0.01) < 1e-12 for s in samples["a"])
    assert all(abs(s - 0.02) < 1e-12 for s in samples["b"])


def test_last_block_is_short_when_runs_is_not_a_multiple_of_block() -> None:
    fake = FakeClock()
    samples = time_interleaved({"a": fake.runner("a", 1.0)}, TimingPlan(runs=7, block=5, pause_s=0.0),
                               clock=fake.clock, sleep=fake.sleep)
    assert len(samples["a"]) == 7
    assert fake.log.count("a") == 7 + 2  # one discarded call per block


def test_budget_stops_after_min_runs() -> None:
    fake = FakeClock()
    plan = TimingPlan(runs=100, block=1, pause_s=0.0, budget_s=2.5)
    samples = time_interleaved({"slow": fake.runner("slow", 1.0)}, plan, clock=fake.clock, sleep=fake.sleep)
    assert len(samples["slow"]) == MIN_RUNS


def test_on_block_reports_progress() -> None:
    fake = FakeClock()
    seen: list[tuple[str, int]] = []
    time_interleaved({"a": fake.runner("a", 0.0), "b": fake.runner("b", 0.0)}, TimingPlan(runs=3, block=2, pause_s=0.0),
                     on_block=lambda name, done: seen.append((name, done)), clock=fake.clock, sleep=fake.sleep)
    assert seen == [("a", 2), ("b", 2), ("a", 3), ("b", 3)]


def test_median_ms() -> None:
    assert median_ms([0.003, 0.001, 0.002]) == 2.0
    assert median_ms([]) != median_ms([])  # NaN
