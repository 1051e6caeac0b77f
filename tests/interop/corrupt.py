"""Flips one byte in the middle of one tensor of a written checkpoint (a copy), for the suite's test of itself.

The byte is found by the tensor's own bytes, so the archive structure is untouched; zip CRCs are left stale on purpose
(a reader that checks them reports the file, one that does not reports the tensor: either way the check must fail).
Returns the name of the tensor that was changed.
"""
import os

import torch

from check_written import iteration_folder
from torch_compat import dcp


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def corrupt_legacy(root):
    folder = iteration_folder(root)
    rank = sorted(d for d in os.listdir(folder) if d.startswith("mp_rank_"))[0]
    path = os.path.join(folder, rank, "model_optim_rng.pt")
    state = torch.load(path, map_location="cpu")
    chunk = next(k for k in state if k.startswith("model"))
    with open(path, "rb") as f:
        blob = f.read()
    for name, value in state[chunk].items():
        if isinstance(value, torch.Tensor) and value.numel() >= 16 and not name.endswith("_extra_state"):
            raw = value.contiguous().view(torch.uint8).numpy().tobytes()
            at = blob.find(raw)
            if at >= 0 and blob.find(raw, at + 1) < 0:
                _flip(path, at + len(raw) // 2)
                return name
    raise RuntimeError(f"{path}: no tensor with unique bytes to corrupt")


def corrupt_dist(root):
    folder = iteration_folder(root)
    metadata = dcp.FileSystemReader(folder).read_metadata()
    for index, info in metadata.storage_data.items():
        if isinstance(metadata.state_dict_metadata[index.fqn], dcp.metadata.TensorStorageMetadata) and info.length >= 64:
            _flip(os.path.join(folder, info.relative_path), info.offset + info.length // 2)
            return index.fqn
    raise RuntimeError(f"{folder}: no tensor to corrupt")
