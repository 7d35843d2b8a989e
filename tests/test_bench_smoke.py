"""The benchmark harness (``bench/``) runs end to end on a tiny budget and writes its table and JSON.

No timing is asserted: only that every requested row ran, the figures are consistent with each
other, and the files are written (the measured figures live in ``bench/README.md``).
"""

from __future__ import annotations

import json

import pytest

bench_run = pytest.importorskip("bench.run", reason="run from the repository root to import bench/")
common = pytest.importorskip("bench.common")


def test_nominal_flops():
    assert common.train_flops("mlp") == 3 * 2 * 128 * (784 * 512 + 512 * 512 + 512 * 10) - 2 * 128 * 784 * 512
    assert 280e6 < common.train_flops("lenet") < 300e6
    # LSTM: the gates' two products at each of 50 steps (no input gradient for x), the head once
    x_proj, h_proj, head = 2 * 50 * 32 * 64 * 512, 2 * 50 * 32 * 128 * 512, 2 * 32 * 128 * 10
    assert common.train_flops("lstm") == 3 * (x_proj + h_proj + head) - x_proj


def test_the_lstm_rows_fnn_and_raw_jax_are_the_same_model():
    """fnn's classifier and the hand-written one give the same loss on the same parameters, and the
    batch is time-major with one target per sequence."""
    import jax
    import jax.numpy as jnp

    from bench import models_lstm
    from bench.lstm import hand_written_lstm
    from bench.models_jax import _xent

    x, y = common.make_batch("lstm")
    assert x.shape == (common.LSTM_T, common.LSTM_N, common.LSTM_IN) and y.shape == (common.LSTM_N,)
    raw = models_lstm.raw_lstm_params()
    lstm = {k: v for k, v in raw.items() if not k.startswith("head_")}
    params = (lstm, (), (), {"weight": raw["head_weight"], "bias": raw["head_bias"]})
    net = models_lstm.fnn_lstm()
    _, expected, _ = net.stateful.init(jax.random.key(0), common.init_shape("lstm"))
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, expected)
    fnn_loss = _xent(net.apply(params, jnp.asarray(x)), jnp.asarray(y))
    raw_loss = _xent(hand_written_lstm(raw, jnp.asarray(x), common.LSTM_H)[-1] @ raw["head_weight"].T
                     + raw["head_bias"][None, :], jnp.asarray(y))
    assert fnn_loss == pytest.approx(float(raw_loss), rel=1e-5)


def test_a_tiny_run_writes_its_table(tmp_path):
    out = bench_run.main(["--models", "mlp", "--rows", "fnn", "raw", "--rounds", "2", "--steps", "1",
                          "--epoch-rounds", "0", "--no-memory", "--no-compile", "--out", str(tmp_path),
                          "--tag", "smoke"])
    rows = out["models"]["mlp"]["rows"]
    assert set(rows) == {"fnn", "raw JAX"}
    assert rows["raw JAX"]["ratio_raw_jax"] == pytest.approx(1.0)
    assert min(r["ratio_fastest"] for r in rows.values()) == pytest.approx(1.0)
    assert all(len(r["samples_ms"]) == 2 and r["median_ms"] > 0 for r in rows.values())
    saved = json.loads((tmp_path / "smoke.json").read_text())
    assert saved["models"]["mlp"]["flops_per_step"] == common.train_flops("mlp")
    table = (tmp_path / "smoke.md").read_text()
    assert "| fnn |" in table and "| raw JAX |" in table


def test_the_lstm_table_runs_its_rows(tmp_path):
    rows = ["fnn", "raw"] + (["torch"] if bench_run._version("torch") else [])
    if "torch" in rows:  # the parity tests leave torch's default dtype at float64: the bench row is float32 anyway
        import torch

        before = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
    try:
        out = bench_run.main(["--models", "lstm", "--rows", *rows, "--rounds", "1", "--steps", "1", "--no-memory",
                              "--no-compile", "--out", str(tmp_path), "--tag", "smoke"])
    finally:
        if "torch" in rows:
            torch.set_default_dtype(before)
    res = out["models"]["lstm"]["rows"]
    assert {"fnn", "raw JAX"} <= set(res) and all("error" not in r for r in res.values()), res
    assert out["epoch"] == {}  # the epoch figure is MNIST's: the MLP's and LeNet-5's only
    assert "### LSTM 64-128 over 50 steps + linear head (time-major), batch 32" in (tmp_path / "smoke.md").read_text()


def test_the_convolution_shapes_table_has_every_form(tmp_path):
    conv_shapes = pytest.importorskip("bench.conv_shapes")
    out = conv_shapes.main(["--shapes", "lenet", "--chunks", "4", "--rounds", "1", "--batch", "8",
                            "--out", str(tmp_path), "--tag", "smoke"])
    assert [r["shape"] for r in out["rows"]] == ["1→6 5×5", "6→16 5×5"]
    assert {"XLA", "Toeplitz", "chunk 4", "fnn auto"} <= set(out["rows"][0]["median_ms"])
    table = (tmp_path / "smoke.md").read_text()
    assert "| 1→6 5×5 (8, 32²) |" in table and json.loads((tmp_path / "smoke.json").read_text())["rounds"] == 1


def test_the_norm_forms_table_has_every_form_and_writes_its_files(tmp_path):
    norm_forms = pytest.importorskip("bench.norm_forms")
    out = norm_forms.main(["--norms", "batch", "group", "--rounds", "1", "--batch", "2",
                           "--out", str(tmp_path), "--tag", "smoke"])
    assert [(r["norm"], r["channels"]) for r in out["rows"]] == [("batch", 16), ("batch", 32), ("batch", 64),
                                                                 ("group", 16), ("group", 32), ("group", 64)]
    assert {"1/σ then γ", "one scale", "fnn, no rule", "fnn"} <= set(out["rows"][0]["median_ms"])
    assert "| batch (2, 16, 32²) |" in (tmp_path / "smoke.md").read_text()


def test_the_step_profile_lists_the_kernels_of_one_step(capsys):
    step_profile = pytest.importorskip("bench.step_profile")
    step_profile.main(["--model", "mlp", "--steps", "1", "--top", "3"])
    out = capsys.readouterr().out
    assert "fnn mlp train step, batch 128" in out and "by kind" in out
    largest = out.split("the 3 largest")[1].strip().splitlines()[1:]
    assert len(largest) == 3 and all(float(line.split()[0]) >= 0 for line in largest)


@pytest.mark.parametrize("form", ["F23", "F43"])
@pytest.mark.parametrize("shape", [(2, 7, 5, 3, 4), (1, 8, 8, 2, 1)])  # (B, H, W, C, O): ragged and whole tiles
def test_the_winograd_forms_compute_the_convolution_and_its_weight_gradient(form, shape):
    winograd = pytest.importorskip("bench.winograd")
    import jax
    import numpy as np
    from jax import lax

    f = getattr(winograd, form)
    b, h, w, c, o = shape
    rng = np.random.default_rng(0)
    x, k, dy = rng.standard_normal((b, h, w, c)), rng.standard_normal((3, 3, c, o)), rng.standard_normal((b, h, w, o))
    conv = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=winograd.DN)
    np.testing.assert_allclose(winograd.winograd_conv(x, k, f), conv(x, k), rtol=1e-10, atol=1e-10)
    expected = jax.vjp(lambda k: conv(x, k), k)[1](dy)[0]
    np.testing.assert_allclose(winograd.winograd_weight_grad(x, dy, f), expected, rtol=1e-10, atol=1e-10)


def test_the_gemm_forms_compute_the_weight_gradient():
    winograd = pytest.importorskip("bench.winograd")
    import jax
    import numpy as np
    from jax import lax

    rng = np.random.default_rng(1)
    x, k, dy = rng.standard_normal((5, 6, 7, 3)), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal((5, 6, 7, 4))
    conv = lambda k: lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=winograd.DN)
    expected = jax.vjp(conv, k)[1](dy)[0]
    for got in (winograd.im2col_weight_grad(x, dy), winograd.im2col_weight_grad(x, dy, chunk=2),
                winograd.taps_weight_grad(x, dy)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_the_winograd_table_has_every_form_and_writes_its_files(tmp_path):
    winograd = pytest.importorskip("bench.winograd")
    out = winograd.main(["--rounds", "1", "--batch", "2", "--out", str(tmp_path), "--tag", "smoke"])
    assert [r["shape"] for r in out["rows"]] == ["16→16", "32→32", "64→64"]
    forms = {"forward XLA", "forward F(4,3)", "weight grad chunked", "weight grad F(4,3)", "weight grad im2col",
             "weight grad im2col, chunks of 16", "weight grad 9 tap GEMMs"}
    assert forms <= set(out["rows"][0]["median_ms"])
    assert all(r["rel_error"]["weight grad F(4,3)"] < 1e-4 for r in out["rows"])
    assert "| 16→16 (2, 32²) |" in (tmp_path / "smoke.md").read_text()


def test_the_init_time_table_compares_both_settings_and_restores_the_options(tmp_path):
    init_time = pytest.importorskip("bench.init_time")
    from fnn.core import _compile

    before = dict(_compile.ONCE_COMPILER_OPTIONS)
    out = init_time.main(["--rounds", "1", "--models", "MLP", "--out", str(tmp_path), "--tag", "smoke"])
    assert [r["model"] for r in out["rows"]] == ["MLP"]
    assert set(out["rows"][0]["median_s"]) == {"XLA default", "jit_once"} and out["rows"][0]["bit_identical"]
    assert before == _compile.ONCE_COMPILER_OPTIONS
    assert "| MLP |" in (tmp_path / "smoke.md").read_text()
    assert [d["shape"] for d in out["draws"]] == [[16, 3, 3, 3], [64, 64, 3, 3], [4096, 4096]]
    assert all(d["bit_identical"] and set(d["run_s"]) == {"XLA default", "jit_once"} for d in out["draws"])


def test_the_fit_start_table_times_every_phase_in_fresh_processes(tmp_path):
    fit_start = pytest.importorskip("bench.fit_start")
    out = fit_start.main(["--rounds", "1", "--limit", "128", "--out", str(tmp_path), "--tag", "smoke"])
    medians = out["medians_s"]
    assert set(medians) == {*fit_start.PHASES, *fit_start.OPTIMIZER_FORMS}
    assert all(v > 0 for v in medians.values())
    parts = sum(medians[p] for p in ("labels", "state", "permutation", "first step"))
    assert parts == pytest.approx(medians["fit, to the first step"])  # the phases add up to the whole
    table = (tmp_path / "smoke.md").read_text()
    assert "| optax, eager |" in table and "| fnn, one program |" in table


def test_the_eigen_option_takes_convolutions_off_ynnpack_and_keeps_their_values():
    conv_threads = pytest.importorskip("bench.conv_threads")
    import jax
    import numpy as np
    from jax import lax

    if jax.default_backend() != "cpu":
        pytest.skip("an XLA:CPU option")
    x, w = jax.random.normal(jax.random.key(0), (2, 4, 4, 32)), jax.random.normal(jax.random.key(1), (3, 3, 32, 32))
    nhwc = ("NHWC", "HWIO", "NHWC")
    conv = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=nhwc)
    lowered = jax.jit(conv).lower(x, w)
    default, eigen = lowered.compile(), lowered.compile(conv_threads.EIGEN_CONVOLUTIONS)
    assert "ynn_fusion" in default.as_text() and "ynn_fusion" not in eigen.as_text()
    np.testing.assert_allclose(eigen(x, w), default(x, w), rtol=1e-5, atol=1e-4)


def test_the_conv_threads_table_has_every_kind_on_both_core_counts():
    conv_threads = pytest.importorskip("bench.conv_threads")
    times = conv_threads.layer_times((32, 32, 4), batch=2, rounds=1)
    assert set(times) == set(conv_threads.KINDS) and all(t > 0 for t in times.values())
    md = conv_threads.layer_table({"1": {"32x32x4": times}, "2": {"32x32x4": times}})
    assert md.count("(1.00×)") == len(conv_threads.KINDS) and "| 32 → 32 at 4² |" in md
    net = {"vgg": {"XLA": {"wall_ms": 2.0, "cpu_ms": 3.0, "cores": 1.5},
                   "Eigen": {"wall_ms": 1.0, "cpu_ms": 2.0, "cores": 2.0}}}
    assert "| vgg | 2.0 / 3.0, 1.50 | 1.0 / 2.0, 2.00 | 0.500 |" in conv_threads.network_table(net)


def test_step_variants_switch_only_while_traced_and_tabulate():
    step_variants = pytest.importorskip("bench.step_variants")
    import fnn.kernels
    import fnn.kernels._chunked as ch
    import fnn.layers._batch_norm as bn
    import fnn.layers._norm as norm

    rule, chunk = norm.normalize, ch.CHUNK
    with step_variants.VARIANTS["norm-plain"][1]():
        assert bn.normalize is rule.fun and norm.normalize is rule.fun
    with step_variants.VARIANTS["chunk-8"][1]():
        assert ch.CHUNK == 8
    with step_variants.VARIANTS["onednn"][1]():  # batch norm on oneDNN too
        assert fnn.kernels.current_implementation() == "onednn"
    assert bn.normalize is rule and norm.normalize is rule
    assert chunk == ch.CHUNK  # restored
    for what, make in step_variants.VARIANTS.values():
        with make():  # every switch enters and leaves
            assert what
    result = {"fnn": {"ms": 100.0, "compile_s": 2.0}, "chunk-8": {"ms": 110.0, "compile_s": 2.5}}
    md = step_variants.table("vgg", result)
    assert "| chunk-8 | weight gradients summed over chunks of 8 images (fnn: 16) | 110.0 | 1.100 | 2.5 |" in md


def test_the_onednn_calls_table_times_every_form(tmp_path):
    onednn_calls = pytest.importorskip("bench.onednn_calls")
    rows = onednn_calls.call_times([2], 1, shapes=onednn_calls.SHAPES[1:2])
    assert [(r["batch"], r["shape"]) for r in rows] == [(2, "6x14² -> 16, 5x5")]
    assert all(rows[0][form] > 0 for form in onednn_calls.FORMS)
    assert onednn_calls.table(rows).count("\n") == 3
    import fnn.kernels._dispatch as dispatch
    from fnn.kernels import _onednn_conv

    assert dispatch.onednn_available is _onednn_conv.available  # the switch was undone


def test_the_host_memory_table_pairs_the_settings_with_their_first_steps():
    host_memory = pytest.importorskip("bench.host_memory")

    def run(mode: str, first: float, wall: float, rss: float) -> dict:
        row = {"wall_ms": wall, "user_ms": 1.0, "sys_ms": 0.5, "minflt": 3.0, "first_s": first}
        return {"mode": mode, "models": {"lenet": {"fnn": row}}, "peak_rss_mb": rss}

    runs = [run("system", 0.8, 8.0, 1000.0), run("keep", 1.2, 6.0, 1500.0), run("system", 1.0, 10.0, 1200.0)]
    table = host_memory._table(runs, ["lenet"])
    assert "| first step (s) |" in table.splitlines()[0]
    assert "| lenet | fnn | system | 0.90 | 9.0 |" in table  # medians over the processes of a setting
    assert "| lenet | fnn | keep | 1.20 | 6.0 |" in table and "**0.67**" in table
    assert "glibc's defaults 1100 MB, keep_host_memory 1500 MB" in table
