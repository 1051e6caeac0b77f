"""Reads a checkpoint our CLI wrote with PyTorch's own readers and checks every tensor against `expected`.

Legacy: ``torch.load`` of each ``model_optim_rng.pt``; each state-dict entry is mapped from its rank-local name
(pipeline-local layer index, expert-parallel-local expert index) to the global one and compared with the piece
of the expected TP=1 tensor that its tensor-parallel rank holds. torch_dist: torch's DCP ``FileSystemReader`` and
``load_state_dict`` into tensors preallocated from the metadata (filled with a marker byte first, so a region the
reader never fills shows up as a difference).
"""
import os
import re

import torch

from expected import dist_tensors, rank_piece, same_bits
from torch_compat import dcp

def iteration_folder(root):
    with open(os.path.join(root, "latest_checkpointed_iteration.txt")) as f:
        it = f.read().strip()
    return os.path.join(root, "release" if it == "release" else f"iter_{int(it):07d}")


def _difference(value, want):
    """Where two tensors of the same dtype and shape first differ (flat element index), for the report."""
    if not isinstance(value, torch.Tensor):
        return f"got {type(value).__name__}, want a tensor"
    if value.dtype != want.dtype or tuple(value.shape) != tuple(want.shape):
        return f"got {value.dtype} {tuple(value.shape)}, want {want.dtype} {tuple(want.shape)}"
    size = want.element_size()
    a = value.contiguous().view(torch.uint8).reshape(-1, size)
    b = want.contiguous().view(torch.uint8).reshape(-1, size)
    bad = (a != b).any(dim=1).nonzero().flatten()
    return f"{len(bad)} of {want.numel()} elements differ, first at flat index {int(bad[0])}"


_GROUPED = re.compile(r"\.experts\.linear_fc[12]\.weight\d+$")
_SEQUENTIAL = re.compile(r"\.experts\.local_experts\.\d+\.linear_fc[12]\.weight$")


def _rank_folder(name, layout):
    """mp_rank_TT[_PPP][_EEE] -> (tp, pp, ep) ranks."""
    parts = [int(p) for p in name[len("mp_rank_"):].split("_")]
    tp = parts.pop(0)
    pp = parts.pop(0) if layout["pp"] > 1 else 0
    ep = parts.pop(0) if layout["ep"] > 1 else 0
    if parts:
        raise ValueError(f"{name}: unexpected rank folder name for layout {layout}")
    return tp, pp, ep


def check_legacy(root, layout, table, m, sequential=False):
    """Returns a list of problems (empty: every tensor equals its expected bits and every parameter was found).

    Routed experts must be named as grouped GEMM names them (``experts.linear_fc1.weightN``) or, with ``sequential``,
    as SequentialMLP does (``experts.local_experts.N.linear_fc1.weight``)."""
    problems = []
    tp, pp, vpp, ep = layout["tp"], layout["pp"], layout.get("vpp", 1), layout["ep"]
    etp = layout.get("etp", tp)
    folder = iteration_folder(root)
    ranks = sorted(d for d in os.listdir(folder) if d.startswith("mp_rank_"))
    if len(ranks) != tp * pp * ep:
        problems.append(f"{folder}: {len(ranks)} rank folders, layout needs {tp * pp * ep}")
    per_chunk = m.layers // (pp * vpp)
    local_experts = m.experts // ep if m.experts else 0
    seen = set()
    for rank in ranks:
        t_rank, p_rank, e_rank = _rank_folder(rank, layout)
        path = os.path.join(folder, rank, "model_optim_rng.pt")
        try:
            state = torch.load(path, map_location="cpu")
        except Exception as e:  # a file torch cannot read is a failure of that file, reported with the rest
            problems.append(f"{path}: torch.load failed: {e}")
            continue
        chunks = ["model"] if vpp == 1 else [f"model{c}" for c in range(vpp)]
        for c, chunk in enumerate(chunks):
            if chunk not in state:
                problems.append(f"{path}: no '{chunk}' state dict")
                continue
            first = (c * pp + p_rank) * per_chunk
            for name, value in state[chunk].items():
                if name.endswith("_extra_state"):
                    continue
                wrong = _SEQUENTIAL if not sequential else _GROUPED
                if wrong.search(name):
                    problems.append(f"{path}: {chunk}.{name}: routed experts must be named "
                                    f"{'local_experts.N.linear_fcX.weight' if sequential else 'linear_fcX.weightN'} here")
                g = re.sub(r"^((?:language_model\.)?decoder\.layers\.)(\d+)\.",
                           lambda x: f"{x.group(1)}{int(x.group(2)) + first}.", name)
                g = re.sub(r"(\.experts\.linear_fc[12]\.weight)(\d+)$",
                           lambda x: f"{x.group(1)}{int(x.group(2)) + e_rank * local_experts}", g)
                g = re.sub(r"\.experts\.local_experts\.(\d+)\.(linear_fc[12])\.weight$",
                           lambda x: f".experts.{x.group(2)}.weight{int(x.group(1)) + e_rank * local_experts}", g)
                if g not in table:
                    problems.append(f"{path}: {chunk}.{name} (global {g}) is not a parameter of the HF model")
                    continue
                full, split = table[g]
                r, n = (t_rank % etp, etp) if split.startswith("expert_") else (t_rank, tp)
                want = rank_piece(full, split, r, n, m)
                if not isinstance(value, torch.Tensor) or not same_bits(value, want):
                    problems.append(f"{path}: {chunk}.{name} differs from the HF source ({_difference(value, want)})")
                seen.add((g, t_rank))
    for g in table:
        if m.tied and g.endswith("output_layer.weight"):
            continue
        missing = [r for r in range(tp) if (g, r) not in seen]
        if missing:
            problems.append(f"{folder}: {g} missing on tensor-parallel ranks {missing}")
    return problems


def check_dist(root, table, m, mtp_name="transformer_layer"):
    problems = []
    folder = iteration_folder(root)
    reader = dcp.FileSystemReader(folder)
    metadata = reader.read_metadata()
    want = dist_tensors(table, m, mtp_name)
    state = {}
    for key, item in metadata.state_dict_metadata.items():
        if isinstance(item, dcp.metadata.TensorStorageMetadata):
            t = torch.empty(tuple(item.size), dtype=item.properties.dtype)
            t.view(torch.uint8).fill_(0xA5)
            state[key] = t
    dcp.load_state_dict(state, reader, no_dist=True)
    for key in sorted(set(want) - set(state)):
        problems.append(f"{folder}: {key} missing from .metadata")
    for key, value in state.items():
        if key not in want:
            problems.append(f"{folder}: {key} is not a parameter of the HF model")
            continue
        if not same_bits(value, want[key]):
            problems.append(f"{folder}: {key} differs from the HF source ({_difference(value, want[key])})")
    checkpoint_id = getattr(getattr(metadata, "storage_meta", None), "checkpoint_id", None)
    if checkpoint_id is not None and os.path.abspath(str(checkpoint_id)) != os.path.abspath(folder):
        problems.append(f"{folder}/.metadata: storage_meta.checkpoint_id is {checkpoint_id}, not the checkpoint's own folder")
    return problems
