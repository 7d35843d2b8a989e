"""Conformance cases: torch7 ``rnn`` package layers (SeqLSTM, SeqGRU, SeqBRNN, FastLSTM,
LinearNoBias, Sequencer, MaskZero).

Time-first sequences ``(T, N, D)`` are not batched along their leading dim, so those cases
have ``batched=False``; the batch-first and step cases are vmapped over the batch. The table
inputs, merges and plain step modules are covered in ``tests/layers/test_rnn_torch7.py`` (each
case here compiles a scan several times, so the list is kept short).
"""

import fnn
from tests.conformance.cases import Case

CASES = [
    Case("SeqLSTM", lambda: fnn.SeqLSTM(3, 2), (4, 2, 3), batched=False),
    Case("SeqLSTM", lambda: fnn.SeqLSTM(3, 2, batchfirst=True, maskzero=True), (2, 4, 3), id="batchfirst-maskzero"),
    Case("SeqGRU", lambda: fnn.SeqGRU(3, 2, maskzero=True), (4, 2, 3), batched=False),
    Case("SeqBRNN", lambda: fnn.SeqBRNN(3, 2, batchfirst=True), (2, 3, 3)),
    Case("FastLSTM", lambda: fnn.FastLSTM(3, 2), ((2, 3), (2, 2), (2, 2))),
    Case("LinearNoBias", lambda: fnn.LinearNoBias(3, 2), (2, 3)),
    Case("Sequencer", lambda: fnn.Sequencer(fnn.FastLSTM(3, 2)), (3, 2, 3), batched=False),
    Case("MaskZero", lambda: fnn.MaskZero(fnn.Linear(3, 2)), (2, 3)),
    Case("MaskZero", lambda: fnn.Sequencer(fnn.MaskZero(fnn.FastLSTM(3, 2))), (3, 2, 3), batched=False,
         id="fastlstm-in-sequencer"),
]
