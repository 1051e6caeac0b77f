"""Checkpoint variants as changes to the expected table (global Megatron name -> (TP=1 tensor, split kind)).

- ``drop_mtp``: no ``mtp.*`` parameter (an HF folder without them, or ``import --no-mtp``);
- ``rename_mtp``: the MTP inner layer under another name (megatron-core calls it ``mtp_model_layer`` in older releases
  and legacy files, ``transformer_layer`` in current torch_dist keys);
- ``pad_vocab``: embedding and output layer padded with zero rows to Megatron-LM's padded vocabulary size.
Each returns a new table (and model) and leaves the cached ones untouched.
"""
import copy
import math

import torch

_VOCAB = ("embedding.word_embeddings.weight", "output_layer.weight")


def vocab_size_with_padding(vocab, divisible_by, tp):
    """Megatron-LM's ``_vocab_size_with_padding``: the vocabulary rounded up to a multiple of
    make_vocab_size_divisible_by x tensor_model_parallel_size."""
    multiple = divisible_by * tp
    return int(math.ceil(vocab / multiple) * multiple)


def drop_mtp(table, m):
    m = copy.copy(m)
    m.mtp_layers = 0
    return {k: v for k, v in table.items() if not (k.startswith("mtp.") or k.startswith("language_model.mtp."))}, m


def rename_mtp(table, name):
    return {k.replace(".mtp_model_layer.", f".{name}."): v for k, v in table.items()}


def pad_vocab(table, divisible_by, tp):
    out = {}
    for k, (t, split) in table.items():
        if k.endswith(_VOCAB):
            rows = vocab_size_with_padding(t.shape[0], divisible_by, tp)
            t = torch.cat([t, torch.zeros((rows - t.shape[0],) + tuple(t.shape[1:]), dtype=t.dtype)])
        out[k] = (t, split)
    return out
