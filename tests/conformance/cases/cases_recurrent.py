"""Conformance cases: the PyTorch-semantics recurrent layers (RNN, LSTM, GRU) and their cells.

The sequence layers are not ``batched``: their ``h_n`` is ``(num_layers * D, N, H)`` whatever
``batch_first`` says (PyTorch's layout), so vmap over the batch stacks it differently. The cells
take ``(N, in)`` rows and vmap over them.
"""

import jax
import jax.numpy as jnp

import fnn
from fnn.testing import random_input
from tests.conformance.cases import Case

F64 = jnp.float64


def _with_lengths():
    return random_input((4, 3, 2)), jnp.array([4, 1, 3], jnp.int32)


def _with_lengths_and_hx():
    x, lengths = _with_lengths()
    return x, lengths, random_input((2, 3, 3), key=jax.random.key(5))


CASES = [
    Case("RNN", lambda: fnn.RNN(2, 3, num_layers=2, nonlinearity="relu", batch_first=True), (3, 4, 2),
         batched=False, id="relu-2layers-batch-first"),
    Case("RNN", lambda: fnn.RNN(2, 3, bidirectional=True), (4, 2), batched=False, id="unbatched-bidirectional"),
    Case("LSTM", lambda: fnn.LSTM(2, 3, num_layers=2, dropout=0.5, bidirectional=True), (4, 3, 2), batched=False,
         train_rng=True, grads=False, id="dropout-bidirectional"),
    Case("LSTM", lambda: fnn.LSTM(2, 3, proj_size=2), ((4, 3, 2), ((1, 3, 2), (1, 3, 3))), batched=False,
         id="proj-hx"),
    Case("LSTM", lambda: fnn.LSTM(2, 3, bidirectional=True), ((4, 3, 2), (3,)), dtype=(F64, jnp.int32),
         batched=False, x=_with_lengths, id="lengths"),
    Case("GRU", lambda: fnn.GRU(2, 3, bias=False, batch_first=True), (3, 4, 2), batched=False, id="no-bias"),
    Case("GRU", lambda: fnn.GRU(2, 3, bidirectional=True), ((4, 3, 2), (3,), (2, 3, 3)),
         dtype=(F64, jnp.int32, F64), batched=False, x=_with_lengths_and_hx, id="lengths-hx"),
    Case("RNNCell", lambda: fnn.RNNCell(2, 3, nonlinearity="relu"), ((4, 2), (4, 3)), id="relu-hx"),
    Case("LSTMCell", lambda: fnn.LSTMCell(2, 3), ((4, 2), ((4, 3), (4, 3)))),
    Case("GRUCell", lambda: fnn.GRUCell(2, 3), (4, 2), id="no-hx"),
]
