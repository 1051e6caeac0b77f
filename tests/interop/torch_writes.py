"""Megatron-named checkpoints written by PyTorch's own writers, for our `export` to read.

The tensors come from `expected.megatron_tensors` (computed from the HF fixture here, independently of our code).
Legacy rank files are written with ``torch.save`` exactly as Megatron-LM's ``--ckpt-format torch`` lays them out
(``mp_rank_TT[_PPP][_EEE]/model_optim_rng.pt``, pipeline-local layer numbers, expert-parallel-local expert numbers,
one ``model`` or ``model{i}`` state dict per virtual pipeline chunk), every tensor of a rank file being a view into one
shared storage, so the reader must honour storage offsets. torch_dist checkpoints are written with torch's DCP
``save_state_dict`` through a ``FileSystemWriter`` with one file per rank or one file per item.
"""
import argparse
import collections
import io
import os
import random
import re

import numpy
import torch

from expected import dist_tensors, rank_piece
from torch_compat import dcp


def _placement(name, m, layout):
    """(pipeline stage, virtual chunk, local name) of a global parameter name, as Megatron-LM distributes them:
    vision encoder and embedding on the first stage's first chunk; decoder layers in contiguous blocks per chunk
    (chunk c of stage p holds block c * PP + p); final norm, output layer and MTP on the last stage's last chunk,
    which also keeps an embedding copy when MTP is present or the output layer is tied."""
    pp, vpp = layout["pp"], layout.get("vpp", 1)
    last = [(pp - 1, vpp - 1)]
    per_chunk = m.layers // (pp * vpp)
    md = re.match(r"^((?:language_model\.)?decoder\.layers\.)(\d+)\.(.*)$", name)
    if md:
        block, local = divmod(int(md.group(2)), per_chunk)
        chunk, stage = divmod(block, pp)
        return [(stage, chunk, f"{md.group(1)}{local}.{md.group(3)}")]
    if name.endswith("embedding.word_embeddings.weight"):
        where = [(0, 0)]
        if pp > 1 and m.mtp_layers:
            where += last
        return [(s, c, name) for s, c in where]
    if ".decoder.final_layernorm." in "." + name or "output_layer." in name or ".mtp." in "." + name:
        return [(s, c, name) for s, c in last]
    return [(0, 0, name)]


def legacy_rank_states(table, m, layout, sequential=False):
    """{(tp, pp, ep): {chunk key: OrderedDict}} for the layout, tensors cut per tensor-parallel rank. Routed experts are
    named as grouped GEMM saves them (``experts.linear_fc1.weightN``) or, with ``sequential``, as megatron-core's
    SequentialMLP does (``experts.local_experts.N.linear_fc1.weight``)."""
    tp, pp, vpp, ep = layout["tp"], layout["pp"], layout.get("vpp", 1), layout["ep"]
    etp = layout.get("etp", tp)
    local_experts = m.experts // ep if m.experts else 0
    states = {}
    for t in range(tp):
        for p in range(pp):
            for e in range(ep):
                states[(t, p, e)] = {("model" if vpp == 1 else f"model{c}"): collections.OrderedDict() for c in range(vpp)}
    for name, (full, split) in table.items():
        if name.endswith("output_layer.weight") and m.tied and pp == 1:
            continue
        me = re.match(r"^(.*\.experts\.linear_fc[12]\.weight)(\d+)$", name)
        for stage, chunk, local in _placement(name, m, layout):
            key = "model" if vpp == 1 else f"model{chunk}"
            for t in range(tp):
                for e in range(ep):
                    if me:
                        index = int(me.group(2))
                        if index // local_experts != e:
                            continue
                        local_name = re.sub(r"\d+$", str(index % local_experts), local)
                        if sequential:
                            local_name = re.sub(r"\.experts\.(linear_fc[12])\.weight(\d+)$",
                                                r".experts.local_experts.\2.\1.weight", local_name)
                        piece = rank_piece(full, split, t % etp, etp, m)
                    else:
                        local_name = local
                        piece = rank_piece(full, split, t, tp, m)
                    states[(t, stage, e)][key][local_name] = piece
    return states


def _as_views_of_one_storage(state):
    """Copies every tensor of the rank into one flat buffer (per dtype) and replaces it by a view of that buffer."""
    tensors = [(k, d, n, v) for k, d in state.items() for n, v in d.items()]
    for dtype in {v.dtype for _, _, _, v in tensors}:
        mine = [(k, d, n, v) for k, d, n, v in tensors if v.dtype == dtype]
        pad = 7  # odd gaps so no view starts at offset 0 or on an aligned boundary by accident
        buffer = torch.zeros(sum(v.numel() + pad for *_, v in mine), dtype=dtype)
        offset = pad
        for k, d, n, v in mine:
            view = buffer[offset:offset + v.numel()].view(v.shape)
            view.copy_(v)
            d[n] = view
            offset += v.numel() + pad
    return state


def write_legacy(root, table, m, layout, sequential=False):
    tp, pp, ep = layout["tp"], layout["pp"], layout["ep"]
    folder = os.path.join(root, "release")
    for (t, p, e), chunks in legacy_rank_states(table, m, layout, sequential).items():
        name = f"mp_rank_{t:02d}" + (f"_{p:03d}" if pp > 1 else "") + (f"_{e:03d}" if ep > 1 else "")
        os.makedirs(os.path.join(folder, name))
        # What a Megatron-LM training save holds besides the model: its arguments, the RNG states of the data-parallel
        # ranks (Python, numpy and torch generators) and the FLOP counter; export must skip them.
        state = {"args": argparse.Namespace(num_layers=m.layers, tensor_model_parallel_size=tp,
                                            pipeline_model_parallel_size=pp, expert_model_parallel_size=ep),
                 "checkpoint_version": 3.0, "iteration": 0}
        state.update(_as_views_of_one_storage(chunks))
        state["rng_state"] = [{"random_rng_state": random.getstate(), "np_rng_state": numpy.random.get_state(),
                               "torch_rng_state": torch.get_rng_state()}]
        state["num_floating_point_operations_so_far"] = 0
        torch.save(state, os.path.join(folder, name, "model_optim_rng.pt"))
    with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("release")


def write_dist(root, table, m, one_file_per_rank, mtp_name="transformer_layer"):
    """A torch_dist checkpoint written by torch's own DCP writer (no process group: one writer rank); the MTP inner
    layer's keys use ``mtp_name``."""
    folder = os.path.join(root, "iter_0000000")
    os.makedirs(folder)
    tensors = dist_tensors(table, m, mtp_name)
    # Views into one larger tensor, as a training process's parameters often are.
    flat = torch.zeros(sum(t.numel() + 3 for t in tensors.values()), dtype=next(iter(tensors.values())).dtype)
    state, offset = {}, 3
    for key, t in tensors.items():
        if t.dtype != flat.dtype:
            state[key] = t
            continue
        view = flat[offset:offset + t.numel()].view(t.shape)
        view.copy_(t)
        state[key] = view
        offset += t.numel() + 3
    common = io.BytesIO()
    torch.save({"checkpoint_version": 3.0, "iteration": 0}, common)
    state["common_state/shard_0_1"] = common
    writer = dcp.FileSystemWriter(folder, single_file_per_rank=one_file_per_rank)
    dcp.save_state_dict(state, writer, no_dist=True)
    with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("0")


if __name__ == "__main__":
    from expected import megatron_tensors

    parser = argparse.ArgumentParser()
    parser.add_argument("fixture")
    parser.add_argument("out")
    parser.add_argument("--kind", choices=["legacy", "dist-per-rank", "dist-per-item"], default="legacy")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--ep", type=int, default=1)
    args = parser.parse_args()
    table, model = megatron_tensors(args.fixture)
    if args.kind == "legacy":
        write_legacy(args.out, table, model, {"tp": args.tp, "pp": args.pp, "ep": args.ep})
    else:
        write_dist(args.out, table, model, args.kind == "dist-per-rank")
