"""Train a character-level LSTM language model: fnn's second main job.

    python examples/char_lm.py                       # CPython's own pydoc topics, a few minutes on 2 cores
    python examples/char_lm.py --text book.txt       # any UTF-8 text file
    python examples/char_lm.py --smoke               # a few seconds: a tiny model on a slice of the text

The default corpus needs no download: the English text of CPython's ``pydoc_data.topics``
(the help pages of the language reference, about 465k characters in every Python install).
The text is cut into a training part (the first 90 %) and a validation part (the rest), each cut
into windows of ``--seq-len + 1`` characters; the model reads a window's first ``seq-len``
characters and predicts each next one.

The model is a torch7 ``rnn`` package language model, batch first::

    LookupTable(V, E) -> SeqLSTM(E, H) [-> SeqLSTM(H, H) ...] -> Linear(H, V) -> LogSoftMax

trained with ``fnn.fit`` (Adam, cosine learning-rate decay, gradient clipping) on the mean
negative log-likelihood per character. After every epoch it prints the validation perplexity
(``exp`` of the mean loss in nats) and bits per character (the loss over ``ln 2``). Written to
``--out`` (default ``runs/``): ``char_lm_<corpus>.safetensors`` (params; the vocabulary, the
settings and the history in its metadata) and ``char_lm_<corpus>.png`` (the curves). At the end
it samples a paragraph, one character at a time, with an LSTM step that reuses the SeqLSTM
weights (checked against the model's own output first).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnn
from fnn.core._args import check_number, int_arg
from fnn.errors import ConfigError
from fnn.io import save
from fnn.train import fit, plot_history

WHAT = "char_lm"
# name: (default, smoke value, help)
SETTINGS = {
    "epochs": (5, 1, "epochs"),
    "seq_len": (100, 32, "characters per training window (truncated backprop through time)"),
    "batch_size": (32, 16, "windows per step"),
    "hidden": (256, 32, "LSTM size H"),
    "layers": (1, 1, "stacked SeqLSTMs"),
    "embed": (48, 16, "character embedding size E"),
    "max_chars": (0, 12_000, "use only the first N characters of the text (0: all)"),
    "sample_chars": (600, 80, "characters to sample at the end"),
}


def load_text(path: str | None) -> tuple[str, str]:
    """The corpus and its short name: a file, or CPython's pydoc topics."""
    if path is None:
        from pydoc_data.topics import topics

        return "".join(topics[k] for k in sorted(topics)), "pydoc_topics"
    if not os.path.isfile(path):
        raise ConfigError(f"{WHAT}: --text {path!r} is not a file")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(), os.path.splitext(os.path.basename(path))[0] or "text"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--text", help="a UTF-8 text file (default: CPython's pydoc_data.topics)")
    for name, (default, smoke, text) in SETTINGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, help=f"{text} (default: {default}; smoke: {smoke})")
    p.add_argument("--lr", type=float, default=6e-3, help="peak Adam learning rate (default: 6e-3)")
    p.add_argument("--clip", type=float, default=5.0, help="gradient norm clipping (default: 5)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default: 0.7)")
    p.add_argument("--prime", default="The ", help="text the sample starts from (default: 'The ')")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation share of the text (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed: init, shuffling, sampling (default: 0)")
    p.add_argument("--out", default="runs", help="output directory (default: runs/)")
    p.add_argument("--smoke", action="store_true", help="a tiny, fast run (tests): the smoke values above")
    p.add_argument("--no-progress", action="store_true", help="no progress bar: one line per epoch instead")
    args = p.parse_args(argv)
    for name, (default, smoke, _) in SETTINGS.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else default)
        int_arg(WHAT, "--" + name.replace("_", "-"), getattr(args, name), minimum=0 if name == "max_chars" else 1)
    check_number(WHAT, "--lr", args.lr, low=0, strict=True)
    check_number(WHAT, "--clip", args.clip, low=0, strict=True)
    check_number(WHAT, "--temperature", args.temperature, low=0, strict=True)
    if not 0 < check_number(WHAT, "--val-fraction", args.val_fraction) < 1:
        raise ConfigError(f"{WHAT}: --val-fraction must be in (0, 1), got {args.val_fraction}")
    return args


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Corpus:
    vocab: str  # the characters, sorted; a character's index is its id
    train: tuple[np.ndarray, np.ndarray]  # (windows, seq_len) inputs and next-character targets
    val: tuple[np.ndarray, np.ndarray]

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.vocab)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ConfigError(f"{WHAT}: characters not in the vocabulary: {''.join(unknown)!r}")
        return np.array([index[c] for c in text], np.int32)


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``seq_len + 1`` ids: inputs ``w[:-1]``, targets ``w[1:]``."""
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1: n * seq_len + 1].reshape(n, seq_len)
    return x, y


def make_corpus(text: str, seq_len: int, val_fraction: float, batch_size: int) -> Corpus:
    vocab = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text], np.int32)
    cut = int(len(ids) * (1 - val_fraction))
    train, val = windows(ids[:cut], seq_len), windows(ids[cut:], seq_len)
    if len(train[0]) < batch_size or len(val[0]) < 1:
        raise ConfigError(f"{WHAT}: the text ({len(text)} characters) is too short for {batch_size} training "
                          f"windows of {seq_len} + 1 characters and one validation window; give a longer "
                          "--text or a smaller --seq-len / --batch-size")
    return Corpus(vocab, train, val)


# --------------------------------------------------------------------------- model


def char_lstm(vocab_size: int, embed: int, hidden: int, layers: int) -> fnn.Module:
    """The language model: (N, T) character ids -> (N, T, V) log-probabilities of the next one."""
    lstms = [fnn.SeqLSTM(embed if i == 0 else hidden, hidden, batchfirst=True) for i in range(layers)]
    return fnn.Sequential(fnn.LookupTable(vocab_size, embed), *lstms, fnn.Linear(hidden, vocab_size),
                          fnn.LogSoftMax(-1))


def nll(logp: jax.Array, target: jax.Array) -> jax.Array:
    """Mean negative log-likelihood per character (nats)."""
    return -jnp.mean(jnp.take_along_axis(logp, target[..., None], axis=-1))


def char_accuracy(logp: jax.Array, target: jax.Array) -> jax.Array:
    return jnp.mean((jnp.argmax(logp, axis=-1) == target).astype(logp.dtype))


# --------------------------------------------------------------------------- sampling


def lstm_step(p: dict, x: jax.Array, h: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step of SeqLSTM with its params (weight (D+H, 4H), gates input, forget, output, transform)."""
    d, hs = x.shape[-1], h.shape[-1]
    a = x @ p["weight"][:d] + h @ p["weight"][d:] + p["bias"]
    i, f, o = (jax.nn.sigmoid(a[..., k * hs:(k + 1) * hs]) for k in range(3))
    c = f * c + i * jnp.tanh(a[..., 3 * hs:])
    return o * jnp.tanh(c), c


def step_logp(params: tuple, char: jax.Array, hc: tuple) -> tuple[jax.Array, tuple]:
    """The model's log-probabilities for the next character after ``char``, carrying ``hc`` per layer."""
    x = params[0]["weight"][char]
    new = []
    for p, (h, c) in zip(params[1:-2], hc):
        h, c = lstm_step(p, x, h, c)
        new.append((h, c))
        x = h
    return jax.nn.log_softmax(x @ params[-2]["weight"].T + params[-2]["bias"]), tuple(new)


def sample(params: tuple, corpus: Corpus, prime: str, n: int, temperature: float, key: jax.Array) -> str:
    """``prime`` followed by ``n`` sampled characters."""
    ids = jnp.asarray(corpus.encode(prime))
    hidden = params[-2]["weight"].shape[1]
    hc = tuple((jnp.zeros(hidden), jnp.zeros(hidden)) for _ in params[1:-2])
    read = jax.jit(lambda hc, ids: jax.lax.scan(lambda s, i: step_logp(params, i, s)[::-1], hc, ids))
    hc, _ = read(hc, ids[:-1])  # the prime's state, up to its last character

    def one(carry, k):
        char, hc = carry
        logp, hc = step_logp(params, char, hc)
        nxt = jax.random.categorical(k, logp / temperature)
        return (nxt, hc), nxt

    _, out = jax.jit(lambda carry: jax.lax.scan(one, carry, jax.random.split(key, n)))((ids[-1], hc))
    return prime + "".join(corpus.vocab[int(i)] for i in out)


def check_sampler(model: fnn.Module, params: tuple, x: np.ndarray) -> None:
    """The step-by-step sampler computes exactly what the model computes on a whole window."""
    want = model.apply(params, jnp.asarray(x[None, :20]))[0]
    hidden = params[-2]["weight"].shape[1]
    hc = tuple((jnp.zeros(hidden), jnp.zeros(hidden)) for _ in params[1:-2])
    _, got = jax.lax.scan(lambda s, i: step_logp(params, i, s)[::-1], hc, jnp.asarray(x[:20]))
    err = float(jnp.max(jnp.abs(got - want)))
    assert err < 1e-4, f"the sampler's LSTM step differs from SeqLSTM by {err}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    text, name = load_text(args.text)
    if args.max_chars:
        text = text[: args.max_chars]
    corpus = make_corpus(text, args.seq_len, args.val_fraction, args.batch_size)
    v = len(corpus.vocab)
    print(f"corpus: {name}, {len(text):,} characters, vocabulary {v}; {len(corpus.train[0])} training and "
          f"{len(corpus.val[0])} validation windows of {args.seq_len}")
    model = char_lstm(v, args.embed, args.hidden, args.layers)
    print(model)

    steps = args.epochs * (len(corpus.train[0]) // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, steps)
    optimizer = optax.chain(optax.clip_by_global_norm(args.clip), optax.adam(schedule))

    def report(ts, logs):
        loss = logs["eval_loss"]
        print(f"epoch {int(ts.epoch)}/{args.epochs}: train loss {logs['loss']:.4f}, validation loss {loss:.4f} nats, "
              f"perplexity {math.exp(loss):.3f}, {loss / math.log(2):.3f} bits/char, accuracy "
              f"{100 * logs['eval_accuracy']:.1f} % ({time.perf_counter() - start:.0f} s)", flush=True)

    ts = fit(model, nll, optimizer, corpus.train, epochs=args.epochs, batch_size=args.batch_size,
             rng=jax.random.key(args.seed), eval_data=corpus.val, eval_batch_size=256,
             metrics={"accuracy": char_accuracy}, progress=not args.no_progress, on_epoch=report)
    seconds = time.perf_counter() - start
    history = {k: [float(x) for x in vs] for k, vs in ts.history.items()}
    history["eval_bits_per_char"] = [x / math.log(2) for x in history["eval_loss"]]
    loss = history["eval_loss"][-1]
    ppl, bpc = math.exp(loss), loss / math.log(2)
    print(f"validation: perplexity {ppl:.3f}, {bpc:.3f} bits per character after {args.epochs} epochs "
          f"({int(ts.step)} steps of {args.batch_size} x {args.seq_len}); wall-clock {seconds:.1f} s")

    stem = os.path.join(args.out, f"char_lm_{name}")
    settings = {k: getattr(args, k) for k in (*SETTINGS, "lr", "clip", "seed", "val_fraction")}
    meta = {"model": "char_lstm", "corpus": name, "vocab": corpus.vocab, **settings, "val_perplexity": ppl,
            "val_bits_per_char": bpc, "seconds": seconds, "history": history}
    save(stem + ".safetensors", params=ts.params, step=int(ts.step), meta=meta)
    plot_history(history, stem + ".png", title=f"char LSTM on {name}: {bpc:.3f} bits/char, perplexity {ppl:.2f}")
    print(f"wrote {stem}.safetensors and {stem}.png")

    check_sampler(model, ts.params, corpus.val[0][0])
    prime = args.prime if set(args.prime) <= set(corpus.vocab) else corpus.vocab[0]
    key = jax.random.fold_in(jax.random.key(args.seed), 1)  # the sampling stream of the seed
    text = sample(ts.params, corpus, prime, args.sample_chars, args.temperature, key)
    print(f"\nsample (temperature {args.temperature}):\n{text}")
    meta["sample"] = text
    return meta


if __name__ == "__main__":
    main(sys.argv[1:])
