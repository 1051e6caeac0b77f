"""HF folders built from a fixture for the variant cases: one without the ``mtp.*`` tensors (as transformers'
``save_pretrained`` leaves a fine-tune), and a blockwise FP8 release (as Qwen's ``-FP8`` checkpoints are stored).

The FP8 builder returns, besides the folder, the tensors a reader must get back: each element is
float32(e4m3) x float32(scale), rounded to nearest even into bf16 (Megatron-Bridge's ``dequantize_fp8_blockwise``),
computed here with the numpy E4M3 codec of ``e4m3.py``.
"""
import json
import math
import os
import shutil

import numpy
import torch

import e4m3
from expected import read_hf

_NAMES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
          torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8", torch.bool: "BOOL"}


def write_safetensors(path, tensors, dtypes=None):
    """name -> tensor (in the given order), as safetensors: 8-byte header length, JSON header padded with spaces to a
    multiple of 8, then the data back to back. ``dtypes`` overrides the stored dtype name (uint8 bytes as F8_E4M3)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dtype = (dtypes or {}).get(name, _NAMES[t.dtype])
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def _copy_config(fixture, out, edit=None):
    os.makedirs(out)
    for name in ("config.json", "generation_config.json"):
        if os.path.isfile(os.path.join(fixture, name)):
            shutil.copy(os.path.join(fixture, name), os.path.join(out, name))
    if edit:
        path = os.path.join(out, "config.json")
        with open(path) as f:
            config = json.load(f)
        edit(config)
        with open(path, "w") as f:
            json.dump(config, f, indent=2)


def without_mtp(fixture, out):
    """The fixture with every ``mtp.*`` tensor left out (config.json unchanged: it still declares the MTP layer)."""
    _copy_config(fixture, out)
    hf, _ = read_hf(fixture)
    write_safetensors(os.path.join(out, "model.safetensors"), {k: v for k, v in hf.items() if not k.startswith("mtp.")})
    return out


def quantized(name, tensor, hidden_prefix):
    """Whether a Qwen FP8 release stores this tensor as FP8: 2-D linear weights of the language model and MTP layers,
    except the router, the shared-expert gate and the GDN a / b projections (embeddings, lm_head, mtp.fc, norms and
    the vision tower stay bf16)."""
    if tensor.dim() != 2 or not name.endswith(".weight"):
        return False
    if not (name.startswith(hidden_prefix + "layers.") or name.startswith("mtp.layers.")):
        return False
    return not name.endswith(("mlp.gate.weight", "shared_expert_gate.weight", "in_proj_a.weight", "in_proj_b.weight"))


def fp8_release(fixture, out, block, scale_dtype):
    """Writes the FP8 release of a bf16 fixture into out; returns (HF tensors as a reader must dequantize them, config).

    Per block of ``block`` = (rows, cols), edges ceil-divided: scale = max(amax, 1e-12) / 448 in float32, stored in
    ``scale_dtype``; values divided by the stored scale, clamped to +-448 and rounded to nearest even into E4M3.
    """
    hf, config = read_hf(fixture)
    hidden_prefix = "model.language_model." if "model.language_model.embed_tokens.weight" in hf else "model."
    br, bc = block
    stored, dtypes, dequantized = {}, {}, {}
    for name, t in hf.items():
        if not quantized(name, t, hidden_prefix):
            stored[name] = dequantized[name] = t
            continue
        rows, cols = t.shape
        w = t.float().numpy()
        nr, nc = math.ceil(rows / br), math.ceil(cols / bc)
        scale = numpy.empty((nr, nc), dtype=numpy.float32)
        for i in range(nr):
            for j in range(nc):
                amax = numpy.abs(w[i * br:(i + 1) * br, j * bc:(j + 1) * bc]).max()
                scale[i, j] = numpy.float32(max(float(amax), 1e-12)) / numpy.float32(e4m3.MAX)
        scale_t = torch.from_numpy(scale).to(scale_dtype)
        scale32 = scale_t.float().numpy()
        wide = numpy.repeat(numpy.repeat(scale32, br, 0), bc, 1)[:rows, :cols]
        codes = e4m3.encode(numpy.clip(w / wide, -e4m3.MAX, e4m3.MAX))
        stored[name] = torch.from_numpy(codes)
        dtypes[name] = "F8_E4M3"
        stored[name + "_scale_inv"] = scale_t
        # float32 product of the decoded value and the float32 scale, then torch's round-to-nearest-even into bf16.
        dequantized[name] = torch.from_numpy(e4m3.decode(codes) * wide).to(torch.bfloat16)

    def edit(c):
        c["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                    "weight_block_size": [br, bc],
                                    "modules_to_not_convert": ["lm_head", "embed_tokens", "mlp.gate", "shared_expert_gate",
                                                               "in_proj_a", "in_proj_b", "mtp.fc", "visual"]}
    _copy_config(fixture, out, edit)
    write_safetensors(os.path.join(out, "model.safetensors"), stored, dtypes)
    return dequantized, config
