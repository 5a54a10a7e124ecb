"""An encoder-decoder (sequence to sequence) model with optional attention.

The model, for a source sequence of length S and a target of length U:

1. **Encoder.** Source ids are embedded and read by a recurrent layer
   ("lstm", "gru" or "rnn", optionally bidirectional) with the source
   lengths respected (:mod:`rnnbook.nn.sequence`). It produces one state per
   source step, ``enc`` (N, S, De) with De = H or 2H, and a final state
   (N, De).
2. **Bridge.** The decoder's initial hidden state is
   ``tanh(final_state W_bridge + b_bridge)`` (as in Bahdanau et al. 2015),
   which also adapts the size when the encoder is bidirectional. The
   decoder's initial cell state is zero.
3. **Decoder.** An LSTM reads the embedded target shifted right by one
   (``BOS y_1 .. y_U``): with teacher forcing it always sees the true
   previous token, so all U steps run as one call of
   :func:`rnnbook.nn.lstm.lstm_forward`.
4. **Attention** (Luong et al. 2015, "global" attention). Each decoder state
   ``h_t`` is a query; the keys are the encoder states projected into the
   decoder's space, ``enc W_key`` (N, S, H); the values are the encoder
   states themselves. Scores: ``"dot"`` (``h_t . key``, Luong's "general"
   score since the keys are projected), ``"scaled"`` (the same divided by
   sqrt(H)) or ``"additive"`` (Bahdanau's ``w . tanh(h_t Wq + key Wk)``).
   Padded source steps are masked out. The context vector ``ctx_t`` is the
   weighted sum of values. With ``attention=None`` there is no context: the
   decoder depends on the source only through its initial state, the fixed-
   length bottleneck of Sutskever et al. (2014) and Cho et al. (2014).
5. **Output.** ``a_t = tanh([ctx_t, h_t] W_comb + b_comb)`` (just ``h_t``
   without attention), then ``logits_t = a_t W_out + b_out`` over the target
   vocabulary, trained with the masked softmax cross-entropy.

Because the attention here comes *after* the decoder cell (the context is
not fed back into the next step's input), the whole teacher-forced decoder
is vectorised over time: one LSTM call, one attention call for all U queries.

Decoding (:meth:`Seq2Seq.greedy_decode`, :meth:`Seq2Seq.beam_search`) runs
step by step with :func:`rnnbook.nn.lstm.lstm_step_forward`, feeding back the
model's own previous output. The tokens PAD and BOS are never produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rnnbook.checks import Shapes, check_cache
from rnnbook.nn import attention as _att
from rnnbook.nn import init as _init
from rnnbook.nn import layers as _layers
from rnnbook.nn import lstm as _lstm
from rnnbook.nn import sequence as _models
from rnnbook.nn.activations import log_softmax
from rnnbook.nn.cells import cell_names, get_cell
from rnnbook.nn.kernels import lstm_forward_fast, lstm_backward_fast

__all__ = ["ATTENTIONS", "Seq2Seq", "Seq2SeqCache", "Decoded",
           "token_accuracy", "sequence_accuracy"]

#: Attention variants, mapping each score name to a description.
ATTENTIONS = {
    None: "no attention: the fixed-vector baseline",
    "dot": "Luong's multiplicative score h . (enc W_key)",
    "scaled": "the dot score divided by sqrt(H)",
    "additive": "Bahdanau's score w . tanh(h Wq + (enc W_key) Wk)",
}

# The special ids every vocabulary of rnnbook.datasets gives its first three
# tokens (TokenVocab.PAD, BOS, EOS); a test keeps the two in step.
PAD, BOS, EOS = 0, 1, 2


class Decoded(NamedTuple):
    """Output of :meth:`Seq2Seq.greedy_decode` and :meth:`Seq2Seq.beam_search`.

    Taught in: Part III, Sequence to sequence.
    """

    tokens: np.ndarray     #: int64 (N, max_len), output ids, EOS included, PAD after it
    lengths: np.ndarray    #: int64 (N,), tokens up to and including EOS (max_len if none)
    scores: np.ndarray     #: (N,), sum of the log-probabilities of the output tokens
    attention: np.ndarray | None  #: (N, max_len, S) weights per output step, 0 after EOS


@dataclass
class Seq2SeqCache:
    """Intermediate values of :meth:`Seq2Seq.forward`, for the backward pass and for plots.

    ``attention`` (N, U, S) holds the teacher-forced attention weights
    (None without attention): row ``[n, t]`` says where output step t looked.

    Taught in: Part III, Sequence to sequence.
    """

    src_emb: object
    encoder: object
    enc: np.ndarray
    bridge: object
    h0: np.ndarray
    keys: np.ndarray | None
    key_W: np.ndarray | None
    tgt_emb: object
    decoder: object
    att: object
    attention: np.ndarray | None
    comb: object
    a: np.ndarray
    out: object


class Seq2Seq:
    """Encoder-decoder with optional attention; see the module docstring for the maths.

    The model object holds the configuration and a parameter dict
    ``self.params`` (flat ``{name: array}``, ready for :mod:`rnnbook.train.optim`).
    The training functions take the parameters as an argument, so gradient
    checks and optimisers can work on any dict with the same keys.

    Args:
        src_vocab_size: Vs, size of the source vocabulary (PAD = 0 included).
        tgt_vocab_size: Vt, size of the target vocabulary (PAD, BOS, EOS =
            0, 1, 2 included).
        rng: numpy Generator for the initial parameters.
        emb_dim: E, embedding size of both vocabularies.
        hidden: H, hidden size of the encoder cell(s) and the decoder LSTM.
        encoder: "lstm", "gru" or "rnn".
        bidirectional: bidirectional encoder (encoder states of size 2H).
        attention: None, "dot", "scaled" or "additive" (see :data:`ATTENTIONS`).
        attn_dim: A, hidden size of the additive score (default H).
        dtype: float64 (default) or float32.

    Parameters (``self.params``), with De = H or 2H:
        ``src_embed`` (Vs, E), ``tgt_embed`` (Vt, E); encoder weights
        ``enc_Wx``... (``enc_fwd_*``/``enc_bwd_*`` when bidirectional);
        ``bridge_W`` (De, H), ``bridge_b`` (H,); decoder ``dec_Wx`` (E, 4H),
        ``dec_Wh`` (H, 4H), ``dec_b`` (4H,); with attention ``key_W`` (De, H)
        and, for "additive", ``attn_Wq`` (H, A), ``attn_Wk`` (H, A),
        ``attn_w`` (A,); ``comb_W`` (De + H, H) or (H, H) without attention,
        ``comb_b`` (H,); ``out_W`` (H, Vt), ``out_b`` (Vt,).

    Taught in: Part III, Sequence to sequence.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, rng, *, emb_dim: int = 16,
                 hidden: int = 32, encoder: str = "lstm", bidirectional: bool = False,
                 attention: str | None = "scaled", attn_dim: int | None = None,
                 dtype=np.float64):
        if encoder not in cell_names():
            raise ValueError(f"encoder is {encoder!r} but needs one of {sorted(cell_names())}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention is {attention!r} but needs one of {list(ATTENTIONS)}")
        for name, value in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                            ("emb_dim", emb_dim), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if tgt_vocab_size <= EOS + 1:
            raise ValueError(f"tgt_vocab_size is {tgt_vocab_size} but needs at least one "
                             f"token besides the special tokens PAD, BOS, EOS")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.encoder = encoder
        self.bidirectional = bool(bidirectional)
        self.attention = attention
        self.hidden = H = int(hidden)
        self.attn_dim = A = H if attn_dim is None else int(attn_dim)
        self.src_vocab_size, self.tgt_vocab_size = int(src_vocab_size), int(tgt_vocab_size)
        self.emb_dim = E = int(emb_dim)
        De = 2 * H if self.bidirectional else H
        dtype = np.dtype(dtype)
        make = get_cell(encoder).init

        p = {
            "src_embed": _init.init_embedding(src_vocab_size, E, rng, dtype=dtype),
            "tgt_embed": _init.init_embedding(tgt_vocab_size, E, rng, dtype=dtype),
        }
        for prefix in (["enc_fwd_", "enc_bwd_"] if self.bidirectional else ["enc_"]):
            for k, v in make(E, H, rng, dtype=dtype).items():
                p[prefix + k] = v
        bridge = _init.init_affine(De, H, rng, dtype=dtype)
        p["bridge_W"], p["bridge_b"] = bridge["W"], bridge["b"]
        for k, v in _init.init_lstm(E, H, rng, dtype=dtype).items():
            p["dec_" + k] = v
        if attention is not None:
            p["key_W"] = _init.xavier_uniform((De, H), rng, dtype=dtype)
        if attention == "additive":
            p["attn_Wq"] = _init.xavier_uniform((H, A), rng, dtype=dtype)
            p["attn_Wk"] = _init.xavier_uniform((H, A), rng, dtype=dtype)
            p["attn_w"] = _init.xavier_uniform((A, 1), rng, dtype=dtype)[:, 0].copy()
        comb = _init.init_affine((De + H) if attention is not None else H, H, rng, dtype=dtype)
        p["comb_W"], p["comb_b"] = comb["W"], comb["b"]
        out = _init.init_affine(H, tgt_vocab_size, rng, dtype=dtype)
        p["out_W"], p["out_b"] = out["W"], out["b"]
        self.params: dict[str, np.ndarray] = p

    def __repr__(self) -> str:
        n = sum(v.size for v in self.params.values())
        return (f"Seq2Seq(encoder={self.encoder!r}, bidirectional={self.bidirectional}, "
                f"attention={self.attention!r}, hidden={self.hidden}, parameters={n})")

    # -- checks ---------------------------------------------------------------------
    def _check_params(self, params) -> dict:
        if not isinstance(params, dict) or set(params) != set(self.params):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"params must have the keys of model.params {sorted(self.params)}, "
                             f"got {got}")
        for k, v in params.items():
            v = np.asarray(v)
            if v.shape != self.params[k].shape:
                raise ValueError(f"params[{k!r}] has shape {v.shape} but needs "
                                 f"{self.params[k].shape}")
        return params

    def _check_src(self, src, src_lengths):
        s = Shapes()
        src = s.check("src", src, ("N", "S"), dtype="int")
        src_lengths = s.check("src_lengths", src_lengths, ("N",), dtype="int")
        S = s["S"]
        if src_lengths.size and (src_lengths.min() < 1 or src_lengths.max() > S):
            raise ValueError(f"src_lengths must lie in [1, S] = [1, {S}], got values in "
                             f"[{src_lengths.min()}, {src_lengths.max()}]")
        return src, src_lengths

    # -- encoder ------------------------------------------------------------------------
    def _encode(self, p, src, src_lengths):
        """Embed and encode the source; returns (enc, h0, keys, mask, caches)."""
        es, c_emb = _layers.embedding_forward(src, p["src_embed"])
        names = get_cell(self.encoder).param_names
        if self.bidirectional:
            pf = {k: p["enc_fwd_" + k] for k in names}
            pb = {k: p["enc_bwd_" + k] for k in names}
            enc, c_enc = _models.bidirectional_forward(self.encoder, es, pf, pb, src_lengths)
        else:
            pe = {k: p["enc_" + k] for k in names}
            enc, c_enc = _models.recurrent_forward(self.encoder, es, None, pe, src_lengths)
        pre, c_bridge = _layers.affine_forward(c_enc.h_last, p["bridge_W"], p["bridge_b"])
        h0 = np.tanh(pre)
        keys = None
        if self.attention is not None:
            N, S, De = enc.shape
            keys = (enc.reshape(N * S, De) @ p["key_W"]).reshape(N, S, self.hidden)
        mask = _models.length_mask(src_lengths, src.shape[1])[:, None, :]  # (N, 1, S)
        return enc, h0, keys, mask, (c_emb, c_enc, c_bridge)

    def _attend(self, p, q, keys, enc, mask):
        if self.attention == "additive":
            return _att.additive_attention(q, keys, enc, p["attn_Wq"], p["attn_Wk"], p["attn_w"],
                                           mask)
        scale = 1.0 if self.attention == "dot" else None
        return _att.scaled_dot_product_attention(q, keys, enc, mask, scale=scale)

    # -- teacher forcing ------------------------------------------------------------------
    def forward(self, params, src, src_lengths, tgt_in):
        """Teacher-forced forward pass.

        Args:
            params: parameter dict (the keys of ``self.params``).
            src: int (N, S) source ids, PAD after each length.
            src_lengths: int (N,), each in [1, S].
            tgt_in: int (N, U) decoder inputs, ``BOS y_1 .. y_{U-1}`` (padded).

        Returns:
            logits: (N, U, Vt), scores for the next target token.
            cache: :class:`Seq2SeqCache`; ``cache.attention`` (N, U, S) holds
                the attention weights.
        """
        p = self._check_params(params)
        src, src_lengths = self._check_src(src, src_lengths)
        tgt_in = Shapes(N=src.shape[0]).check("tgt_in", tgt_in, ("N", "U"), dtype="int")
        enc, h0, keys, mask, (c_emb, c_enc, c_bridge) = self._encode(p, src, src_lengths)
        ed, c_temb = _layers.embedding_forward(tgt_in, p["tgt_embed"])
        dec, c_dec = lstm_forward_fast(ed, h0, p["dec_Wx"], p["dec_Wh"], p["dec_b"])
        c_att = weights = None
        feat = dec
        if self.attention is not None:
            ctx, weights, c_att = self._attend(p, dec, keys, enc, mask)
            feat = np.concatenate((ctx, dec), axis=2)
        pre, c_comb = _layers.temporal_affine_forward(feat, p["comb_W"], p["comb_b"])
        a = np.tanh(pre)
        logits, c_out = _layers.temporal_affine_forward(a, p["out_W"], p["out_b"])
        cache = Seq2SeqCache(c_emb, c_enc, enc, c_bridge, h0, keys, p.get("key_W"), c_temb,
                             c_dec, c_att, weights, c_comb, a, c_out)
        return logits, cache

    def backward(self, dlogits, cache):
        """Backward pass of :meth:`forward`: from ``dlogits`` (N, U, Vt) to a gradient dict."""
        c = check_cache("cache", cache, Seq2SeqCache, "Seq2Seq.forward")
        g = {}
        da, g["out_W"], g["out_b"] = _layers.temporal_affine_backward(dlogits, c.out)
        dpre = da * (1 - c.a * c.a)
        dfeat, g["comb_W"], g["comb_b"] = _layers.temporal_affine_backward(dpre, c.comb)
        enc = c.enc
        N, S, De = enc.shape
        if self.attention is not None:
            dctx, ddec = dfeat[:, :, :De], dfeat[:, :, De:]
            if self.attention == "additive":
                dq, dkeys, denc, g["attn_Wq"], g["attn_Wk"], g["attn_w"] = \
                    _att.additive_attention_backward(dctx, c.att)
            else:
                dq, dkeys, denc = _att.scaled_dot_product_attention_backward(dctx, c.att)
            ddec = ddec + dq
            dkeys2 = dkeys.reshape(N * S, self.hidden)
            g["key_W"] = enc.reshape(N * S, De).T @ dkeys2
            denc = denc + (dkeys2 @ c.key_W.T).reshape(N, S, De)
        else:
            ddec = dfeat
            denc = np.zeros_like(enc)
        ded, dh0, _, g["dec_Wx"], g["dec_Wh"], g["dec_b"] = lstm_backward_fast(ddec, c.decoder)
        g["tgt_embed"] = _layers.embedding_backward(ded, c.tgt_emb)
        dpre0 = dh0 * (1 - c.h0 * c.h0)
        dlast, g["bridge_W"], g["bridge_b"] = _layers.affine_backward(dpre0, c.bridge)
        if self.bidirectional:
            des, gf, gb = _models.bidirectional_backward(denc, c.encoder, dh_last=dlast)
            g.update({"enc_fwd_" + k: v for k, v in gf.items()})
            g.update({"enc_bwd_" + k: v for k, v in gb.items()})
        else:
            des, _, ge, _ = _models.recurrent_backward(denc, c.encoder, dh_last=dlast)
            g.update({"enc_" + k: v for k, v in ge.items()})
        g["src_embed"] = _layers.embedding_backward(des, c.src_emb)
        return g

    def loss_and_grads(self, params, src, src_lengths, tgt_in, tgt_out, tgt_mask):
        """Teacher-forced loss and its gradient with respect to every parameter.

        Args:
            params: parameter dict (the keys of ``self.params``).
            src: int (N, S); src_lengths: int (N,).
            tgt_in: int (N, U), ``BOS y_1 ..``; tgt_out: int (N, U),
                ``y_1 .. EOS``; tgt_mask: bool (N, U), True at real target
                positions (see :func:`rnnbook.datasets.vocab.encode_pairs`).

        Returns:
            loss: float, mean cross-entropy per real target token.
            grads: dict with the keys of ``params``.
        """
        logits, cache = self.forward(params, src, src_lengths, tgt_in)
        loss, dlogits = _layers.softmax_cross_entropy(logits, tgt_out, tgt_mask)
        return loss, self.backward(dlogits, cache)

    def batch_loss_and_grads(self, params, batch):
        """:meth:`loss_and_grads` on one batch, the step function :func:`~rnnbook.train.loop.train` takes.

        Args:
            params: parameter dict (the keys of ``self.params``).
            batch: a :class:`~rnnbook.datasets.vocab.Seq2SeqBatch`, or any
                tuple ``(src, src_lengths, tgt_in, tgt_out, tgt_mask)``.

        Returns:
            loss: float, mean cross-entropy per real target token.
            grads: dict with the keys of ``params``.

        Taught in: Chapter 7, Sequence to sequence.
        """
        if not (isinstance(batch, tuple) and len(batch) == 5):
            raise ValueError("batch must be a Seq2SeqBatch (src, src_lengths, tgt_in, tgt_out, "
                             f"tgt_mask), got {type(batch).__name__}")
        return self.loss_and_grads(params, *batch)

    def loss(self, params, src, src_lengths, tgt_in, tgt_out, tgt_mask) -> float:
        """The teacher-forced loss alone (no backward pass), e.g. for validation."""
        logits, _ = self.forward(params, src, src_lengths, tgt_in)
        return _layers.softmax_cross_entropy(logits, tgt_out, tgt_mask)[0]

    # -- decoding -------------------------------------------------------------------------
    def _step(self, p, prev, h, c, keys, enc, mask):
        """One decoder step for M hypotheses: returns (logp (M, Vt), h, c, weights or None)."""
        x = p["tgt_embed"][prev]
        h, c, _ = _lstm.lstm_step_forward(x, h, c, p["dec_Wx"], p["dec_Wh"], p["dec_b"])
        weights = None
        feat = h
        if self.attention is not None:
            ctx, w3, _ = self._attend(p, h[:, None, :], keys, enc, mask)
            weights = w3[:, 0]
            feat = np.concatenate((ctx[:, 0], h), axis=1)
        a = np.tanh(feat @ p["comb_W"] + p["comb_b"])
        return log_softmax(a @ p["out_W"] + p["out_b"]), h, c, weights

    def _start(self, params, src, src_lengths, max_len):
        p = self._check_params(self.params if params is None else params)
        src, src_lengths = self._check_src(src, src_lengths)
        if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
        enc, h0, keys, mask, _ = self._encode(p, src, src_lengths)
        return p, enc, h0, keys, mask

    def greedy_decode(self, src, src_lengths, max_len: int, params=None) -> Decoded:
        """Decode by taking the most probable token at every step.

        Args:
            src: int (N, S); src_lengths: int (N,).
            max_len: maximum number of output tokens (EOS included).
            params: parameter dict; None means ``self.params``.

        Returns:
            decoded: :class:`Decoded`, which unpacks as ``tokens, lengths,
                scores, attention``.
        """
        p, enc, h, keys, mask = self._start(params, src, src_lengths, max_len)
        N, S, _ = enc.shape
        c = np.zeros_like(h)
        tokens = np.full((N, max_len), PAD, dtype=np.int64)
        scores = np.zeros(N, dtype=h.dtype)
        att = np.zeros((N, max_len, S), dtype=h.dtype) if self.attention is not None else None
        done = np.zeros(N, dtype=bool)
        prev = np.full(N, BOS, dtype=np.int64)
        for t in range(max_len):
            logp, h, c, w = self._step(p, prev, h, c, keys, enc, mask)
            allowed = logp.copy()
            allowed[:, [PAD, BOS]] = -np.inf
            choice = np.argmax(allowed, axis=1)
            live = ~done
            tokens[live, t] = choice[live]
            scores[live] += logp[live, choice[live]]
            if att is not None:
                att[live, t] = w[live]
            done |= choice == EOS
            prev = choice
            if done.all():
                break
        return Decoded(tokens, _lengths(tokens), scores, att)

    def beam_search(self, src, src_lengths, beam_size: int, max_len: int,
                    params=None) -> Decoded:
        """Decode with beam search: keep the ``beam_size`` best partial outputs per source.

        At each step every live hypothesis is extended by every token, and
        the ``beam_size`` extensions with the highest total log-probability
        survive. A hypothesis that has produced EOS is finished: it keeps its
        score and competes unchanged with the live ones. The search stops
        when all hypotheses are finished or after ``max_len`` tokens, and
        returns the best-scoring hypothesis per source. Scores are plain sums
        of log-probabilities (no length normalisation). Ties go to the
        earlier hypothesis and the smaller token id, as in
        :meth:`greedy_decode`, so ``beam_size=1`` reproduces greedy decoding.

        Args:
            src: int (N, S); src_lengths: int (N,).
            beam_size: B >= 1.
            max_len: maximum number of output tokens (EOS included).
            params: parameter dict; None means ``self.params``.

        Returns:
            decoded: :class:`Decoded` for the best hypothesis of each source.
        """
        if isinstance(beam_size, bool) or not isinstance(beam_size, (int, np.integer)) \
                or beam_size < 1:
            raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
        p, enc, h, keys, mask = self._start(params, src, src_lengths, max_len)
        N, S, _ = enc.shape
        B, V = int(beam_size), self.tgt_vocab_size
        # Hypothesis b of source n lives in row n*B + b of every per-hypothesis array.
        enc, h = np.repeat(enc, B, axis=0), np.repeat(h, B, axis=0)
        keys = None if keys is None else np.repeat(keys, B, axis=0)
        mask = np.repeat(mask, B, axis=0)
        c = np.zeros_like(h)
        score = np.full((N, B), -np.inf, dtype=h.dtype)
        score[:, 0] = 0.0  # start from one hypothesis, not B copies of it
        done = np.zeros((N, B), dtype=bool)
        tokens = np.full((N, B, max_len), PAD, dtype=np.int64)
        att = np.zeros((N, B, max_len, S), dtype=h.dtype) if self.attention is not None else None
        prev = np.full(N * B, BOS, dtype=np.int64)
        base = (np.arange(N) * B)[:, None]
        for t in range(max_len):
            logp, h, c, w = self._step(p, prev, h, c, keys, enc, mask)
            logp = logp.reshape(N, B, V)
            cand = score[:, :, None] + logp
            cand[:, :, [PAD, BOS]] = -np.inf
            # A finished hypothesis has one continuation: itself, marked by PAD.
            cand[done] = -np.inf
            cand[done, PAD] = score[done]
            flat = cand.reshape(N, B * V)
            order = np.argsort(-flat, axis=1, kind="stable")[:, :B]
            parent, tok = order // V, order % V
            score = np.take_along_axis(flat, order, axis=1)
            rows = (base + parent).reshape(-1)
            was_done = np.take_along_axis(done, parent, axis=1)
            tokens = np.take_along_axis(tokens, parent[:, :, None], axis=1)
            tokens[:, :, t] = np.where(was_done, PAD, tok)
            if att is not None:
                att = np.take_along_axis(att, parent[:, :, None, None], axis=1)
                att[:, :, t] = np.where(was_done[:, :, None], 0.0, w[rows].reshape(N, B, S))
            done = was_done | (tok == EOS)
            h, c = h[rows], c[rows]
            prev = tokens[:, :, t].reshape(-1)
            if done.all():
                break
        best = np.argmax(score, axis=1)
        pick = np.arange(N)
        out_tokens = tokens[pick, best]
        out_att = None if att is None else att[pick, best]
        return Decoded(out_tokens, _lengths(out_tokens), score[pick, best], out_att)


def _lengths(tokens: np.ndarray) -> np.ndarray:
    """Number of tokens up to and including the first EOS (all of them if none)."""
    is_eos = tokens == EOS
    has = is_eos.any(axis=1)
    return np.where(has, is_eos.argmax(axis=1) + 1, tokens.shape[1]).astype(np.int64)


def _align(pred, tgt_out, tgt_mask):
    pred = np.asarray(pred)
    s = Shapes()
    tgt_out = s.check("tgt_out", tgt_out, ("N", "U"), dtype="int")
    tgt_mask = s.check("tgt_mask", tgt_mask, ("N", "U"), dtype="bool")
    pred = s.check("pred", pred, ("N", "L"), dtype="int")
    U, L = s["U"], s["L"]
    if L < U:  # a shorter prediction is wrong wherever it is missing
        pred = np.concatenate((pred, np.full((pred.shape[0], U - L), -1, dtype=pred.dtype)), 1)
    return pred[:, :U] == tgt_out, tgt_mask


def token_accuracy(pred, tgt_out, tgt_mask) -> float:
    """Fraction of real target positions (EOS included) where ``pred`` has the right token.

    Args:
        pred: int (N, L) predicted ids, e.g. ``Decoded.tokens``.
        tgt_out: int (N, U) target ids; tgt_mask: bool (N, U).

    Taught in: Part III, Sequence to sequence.
    """
    hit, mask = _align(pred, tgt_out, tgt_mask)
    return float(hit[mask].mean())


def sequence_accuracy(pred, tgt_out, tgt_mask) -> float:
    """Fraction of sequences whose every real target token (EOS included) is right.

    Taught in: Part III, Sequence to sequence.
    """
    hit, mask = _align(pred, tgt_out, tgt_mask)
    return float(np.all(hit | ~mask, axis=1).mean())
