"""Compares an exported HF folder with the fixture it came from, byte for byte.

Headers must list the same tensors in the same order with the same dtypes, shapes and data offsets (a
``__metadata__`` entry such as {"format": "pt"} aside), and the data must be the same bytes. The only tolerated data
difference is the one a Qwen3.5 round trip cannot avoid: the GDN output norm is stored in Megatron
as bf16(w - 1), so it comes back as bf16(bf16(w - 1) + 1); those tensors must equal exactly that, computed here.
"""
import json
import os
import struct

import torch

from expected import read_safetensors, same_bits


def _header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return list(header.items())


def compare_hf(exported, fixture):
    problems = []
    names = sorted(n for n in os.listdir(fixture) if n.endswith(".safetensors") and n != "reference_outputs.safetensors")
    got_names = sorted(n for n in os.listdir(exported) if n.endswith(".safetensors"))
    if names != got_names:
        return [f"{exported}: safetensors files {got_names}, fixture has {names}"]
    for name in names:
        a, b = os.path.join(exported, name), os.path.join(fixture, name)
        with open(a, "rb") as fa, open(b, "rb") as fb:
            if fa.read() == fb.read():
                continue
        if _header(a) != _header(b):
            problems.append(f"{a}: header differs from {b}")
            continue
        got, want = read_safetensors(a), read_safetensors(b)
        for key in want:
            if same_bits(got[key], want[key]):
                continue
            if key.endswith("linear_attn.norm.weight"):
                round_trip = ((want[key].float() - 1.0).to(want[key].dtype).float() + 1.0).to(want[key].dtype)
                if same_bits(got[key], round_trip):
                    continue
            problems.append(f"{a}: tensor {key} differs from the fixture")
    return problems
