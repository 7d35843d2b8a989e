"""bench/lstm.py runs end to end on tiny shapes (no timing asserted: the figures are in bench/README.md)."""

from __future__ import annotations

import pytest

bench_lstm = pytest.importorskip("bench.lstm", reason="run from the repository root to import bench/")


def test_a_tiny_lstm_run_has_every_row():
    res = bench_lstm.main(["--rounds", "1", "--steps", "1", "--T", "3", "--N", "2", "--H-in", "2", "--H", "2"])
    rows = res["rows"]
    assert {"fnn.LSTM", "hand-written scan", "fnn.LSTM (bidirectional)"} <= set(rows)
    assert all(r["median_ms"] > 0 for r in rows.values())
    assert rows["fnn.LSTM"]["first_call_s"] > 0
