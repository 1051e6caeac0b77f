"""What a Megatron checkpoint of an HF fixture must hold, computed here from the HF safetensors alone.

Nothing in this file calls or mirrors the converter's code: the fused layouts follow megatron-core's module
definitions (attention ``linear_qkv`` grouped per query group, SwiGLU ``linear_fc1`` as [gate; up] per tensor-parallel
shard, Gated DeltaNet ``in_proj`` as [q; k; v; z; beta; alpha] and ``conv1d`` as [q; k; v] per shard, grouped-GEMM
experts ``weight{i}``, the zero-centred GDN output norm stored as bf16(w - 1) as Megatron-Bridge's Qwen3.5 bridge does).

``megatron_tensors`` returns every parameter under its TP=1 Megatron name with a *global* layer (and expert) index and
a split kind saying how tensor parallelism cuts it. ``local_slice`` cuts one rank's piece; ``dist_tensors`` regroups
the table under the keys megatron-core's distributed checkpoint uses.
"""
import json
import os
import re
import struct

import torch

_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8, "BOOL": torch.bool}


def read_safetensors(path):
    """A minimal safetensors reader (header JSON, then raw little-endian data); returns name -> tensor."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start:base + end])
        t = torch.frombuffer(raw, dtype=_DTYPES[info["dtype"]]) if raw else torch.empty(0, dtype=_DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def read_hf(folder):
    """All tensors of an HF folder (single file or index-sharded), with its config."""
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors") and name != "reference_outputs.safetensors":
            tensors.update(read_safetensors(os.path.join(folder, name)))
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return tensors, config


def same_bits(a, b):
    """Bit-for-bit equality (dtype, shape and every byte)."""
    if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
        return False
    return a.contiguous().view(torch.uint8).equal(b.contiguous().view(torch.uint8)) if a.numel() else True


# Split kinds: how a tensor-parallel rank's piece is cut from the TP=1 tensor.
REP, COL, ROW, QKV, FC1, INPROJ, CONV = "replicated", "dim0", "dim1", "qkv", "gated_fc1", "gdn_in_proj", "gdn_conv1d"


class Model:
    """The geometry the fused layouts need, read from config.json."""

    def __init__(self, config, hf):
        text = config.get("text_config", config)
        self.vl = "model.language_model.embed_tokens.weight" in hf
        self.mp = "language_model." if self.vl else ""
        self.hp = "model.language_model." if self.vl else "model."
        self.layers = text["num_hidden_layers"]
        self.heads = text["num_attention_heads"]
        self.groups = text["num_key_value_heads"]
        self.head_dim = text.get("head_dim") or text["hidden_size"] // self.heads
        self.layer_types = text.get("layer_types") or ["full_attention"] * self.layers
        self.nk = text.get("linear_num_key_heads")
        self.nv = text.get("linear_num_value_heads")
        self.dk = text.get("linear_key_head_dim")
        self.dv = text.get("linear_value_head_dim")
        self.experts = text.get("num_experts") or text.get("num_local_experts") or 0
        vision = config.get("vision_config") or {}
        self.vision_depth = vision.get("depth", 0) if self.vl else 0
        self.vision_heads = vision.get("num_heads", 1)
        self.mtp_layers = text.get("mtp_num_hidden_layers") or 0


def _qkv(q, k, v, m, gated):
    """megatron-core's fused linear_qkv: per query group g, [queries of g; (gates of g); key g; value g]."""
    d, per = m.head_dim, m.heads // m.groups
    stride = 2 * d if gated else d
    rows = []
    for g in range(m.groups):
        heads = range(g * per, (g + 1) * per)
        rows += [q[h * stride:h * stride + d] for h in heads]
        if gated:
            rows += [q[h * stride + d:h * stride + 2 * d] for h in heads]
        rows += [k[g * d:(g + 1) * d], v[g * d:(g + 1) * d]]
    return torch.cat(rows)


def _vision_qkv(qkv, heads):
    """HF vision qkv is [q; k; v]; megatron-core's linear_qkv with one query per group is [q_h; k_h; v_h] per head."""
    q, k, v = qkv.chunk(3)
    d = q.shape[0] // heads
    return torch.cat([torch.cat([q[h * d:(h + 1) * d], k[h * d:(h + 1) * d], v[h * d:(h + 1) * d]]) for h in range(heads)])


def _zero_centred(w):
    """Megatron-Bridge stores the Qwen3.5 GDN output norm weight as w - 1 (computed in fp32, rounded to the dtype)."""
    return (w.float() - 1.0).to(w.dtype)


def _experts(hf, prefix, n):
    """Per expert e: (fc1 = [gate; up] as [2F, H], fc2 as [H, F]) from per-expert or packed HF tensors."""
    per = f"{prefix}mlp.experts.0.gate_proj.weight"
    if per in hf:
        return [(torch.cat([hf[f"{prefix}mlp.experts.{e}.gate_proj.weight"], hf[f"{prefix}mlp.experts.{e}.up_proj.weight"]]),
                 hf[f"{prefix}mlp.experts.{e}.down_proj.weight"]) for e in range(n)]
    gate_up, down = hf[f"{prefix}mlp.experts.gate_up_proj"], hf[f"{prefix}mlp.experts.down_proj"]
    hidden = hf[f"{prefix}mlp.gate.weight"].shape[1]
    out = []
    for e in range(n):
        gu, dn = gate_up[e], down[e]
        # Qwen3-VL-MoE stores them transposed ([H, 2F] and [F, H]); Qwen3.5/3.6 as [2F, H] and [H, F].
        if gu.shape[0] == hidden and gu.shape[1] != hidden:
            gu, dn = gu.t(), dn.t()
        out.append((gu.contiguous(), dn.contiguous()))
    return out


def _layer(out, hf, m, mname, hname, kind, moe):
    """One transformer layer (decoder or MTP inner layer), under Megatron prefix mname, HF prefix hname."""
    def put(name, tensor, split):
        out[mname + name] = (tensor.contiguous(), split)

    if kind == "linear_attention":
        a = hname + "linear_attn."
        qkv = hf[a + "in_proj_qkv.weight"]
        put("self_attention.in_proj.layer_norm_weight", hf[hname + "input_layernorm.weight"], REP)
        put("self_attention.in_proj.weight", torch.cat([qkv, hf[a + "in_proj_z.weight"], hf[a + "in_proj_b.weight"], hf[a + "in_proj_a.weight"]]), INPROJ)
        put("self_attention.conv1d.weight", hf[a + "conv1d.weight"], CONV)
        put("self_attention.dt_bias", hf[a + "dt_bias"], COL)
        put("self_attention.A_log", hf[a + "A_log"], COL)
        put("self_attention.out_norm.weight", _zero_centred(hf[a + "norm.weight"]), REP)
        put("self_attention.out_proj.weight", hf[a + "out_proj.weight"], ROW)
    else:
        a = hname + "self_attn."
        q = hf[a + "q_proj.weight"]
        gated = q.shape[0] == 2 * m.heads * m.head_dim
        put("self_attention.linear_qkv.layer_norm_weight", hf[hname + "input_layernorm.weight"], REP)
        put("self_attention.linear_qkv.weight", _qkv(q, hf[a + "k_proj.weight"], hf[a + "v_proj.weight"], m, gated), QKV)
        if a + "q_proj.bias" in hf:
            put("self_attention.linear_qkv.bias", _qkv(hf[a + "q_proj.bias"], hf[a + "k_proj.bias"], hf[a + "v_proj.bias"], m, gated), QKV)
        put("self_attention.q_layernorm.weight", hf[a + "q_norm.weight"], REP)
        put("self_attention.k_layernorm.weight", hf[a + "k_norm.weight"], REP)
        put("self_attention.linear_proj.weight", hf[a + "o_proj.weight"], ROW)
    mlp = hname + "mlp."
    if not moe:
        put("mlp.linear_fc1.layer_norm_weight", hf[hname + "post_attention_layernorm.weight"], REP)
        put("mlp.linear_fc1.weight", torch.cat([hf[mlp + "gate_proj.weight"], hf[mlp + "up_proj.weight"]]), FC1)
        put("mlp.linear_fc2.weight", hf[mlp + "down_proj.weight"], ROW)
        return
    put("pre_mlp_layernorm.weight", hf[hname + "post_attention_layernorm.weight"], REP)
    put("mlp.router.weight", hf[mlp + "gate.weight"], REP)
    for e, (fc1, fc2) in enumerate(_experts(hf, hname, m.experts)):
        out[f"{mname}mlp.experts.linear_fc1.weight{e}"] = (fc1, "expert_" + FC1)
        out[f"{mname}mlp.experts.linear_fc2.weight{e}"] = (fc2, "expert_" + ROW)
    if mlp + "shared_expert.gate_proj.weight" in hf:
        s = mlp + "shared_expert."
        put("mlp.shared_experts.linear_fc1.weight", torch.cat([hf[s + "gate_proj.weight"], hf[s + "up_proj.weight"]]), FC1)
        put("mlp.shared_experts.linear_fc2.weight", hf[s + "down_proj.weight"], ROW)
        put("mlp.shared_experts.gate_weight", hf[mlp + "shared_expert_gate.weight"], REP)


def megatron_tensors(folder):
    """Global Megatron name -> (TP=1 tensor, split kind) for every parameter of the HF checkpoint in folder."""
    hf, config = read_hf(folder)
    return megatron_tensors_of(hf, config)


def megatron_tensors_of(hf, config):
    """As megatron_tensors, from HF tensors already read (or built: a dequantized FP8 release)."""
    m = Model(config, hf)
    if "mtp.fc.weight" not in hf:
        m.mtp_layers = 0  # config.json declares MTP but the folder has none: nothing of it is written
    out = {}
    mp, hp = m.mp, m.hp
    if m.vl:
        v = "model.visual."
        out["vision_model.patch_embed.proj.weight"] = (hf[v + "patch_embed.proj.weight"], REP)
        if v + "patch_embed.proj.bias" in hf:
            out["vision_model.patch_embed.proj.bias"] = (hf[v + "patch_embed.proj.bias"], REP)
        out["vision_model.pos_embed.weight"] = (hf[v + "pos_embed.weight"], REP)
        for i in range(m.vision_depth):
            b, n = f"{v}blocks.{i}.", f"vision_model.decoder.layers.{i}."
            out[n + "self_attention.linear_qkv.layer_norm_weight"] = (hf[b + "norm1.weight"], REP)
            out[n + "self_attention.linear_qkv.layer_norm_bias"] = (hf[b + "norm1.bias"], REP)
            out[n + "self_attention.linear_qkv.weight"] = (_vision_qkv(hf[b + "attn.qkv.weight"], m.vision_heads), QKV)
            out[n + "self_attention.linear_qkv.bias"] = (_vision_qkv(hf[b + "attn.qkv.bias"], m.vision_heads), QKV)
            out[n + "self_attention.linear_proj.weight"] = (hf[b + "attn.proj.weight"], ROW)
            out[n + "self_attention.linear_proj.bias"] = (hf[b + "attn.proj.bias"], REP)
            out[n + "mlp.linear_fc1.layer_norm_weight"] = (hf[b + "norm2.weight"], REP)
            out[n + "mlp.linear_fc1.layer_norm_bias"] = (hf[b + "norm2.bias"], REP)
            out[n + "mlp.linear_fc1.weight"] = (hf[b + "mlp.linear_fc1.weight"], COL)
            out[n + "mlp.linear_fc1.bias"] = (hf[b + "mlp.linear_fc1.bias"], COL)
            out[n + "mlp.linear_fc2.weight"] = (hf[b + "mlp.linear_fc2.weight"], ROW)
            out[n + "mlp.linear_fc2.bias"] = (hf[b + "mlp.linear_fc2.bias"], REP)
        mergers = [("vision_model.merger.", v + "merger.")]
        i = 0
        while f"{v}deepstack_merger_list.{i}.norm.weight" in hf:
            mergers.append((f"vision_model.decoder.deepstack_merger_list.{i}.", f"{v}deepstack_merger_list.{i}."))
            i += 1
        for n, b in mergers:
            out[n + "patch_norm.weight"] = (hf[b + "norm.weight"], REP)
            out[n + "patch_norm.bias"] = (hf[b + "norm.bias"], REP)
            out[n + "linear_fc1.weight"] = (hf[b + "linear_fc1.weight"], COL)
            out[n + "linear_fc1.bias"] = (hf[b + "linear_fc1.bias"], COL)
            out[n + "linear_fc2.weight"] = (hf[b + "linear_fc2.weight"], ROW)
            out[n + "linear_fc2.bias"] = (hf[b + "linear_fc2.bias"], REP)
    out[mp + "embedding.word_embeddings.weight"] = (hf[hp + "embed_tokens.weight"], COL)
    for i in range(m.layers):
        _layer(out, hf, m, f"{mp}decoder.layers.{i}.", f"{hp}layers.{i}.", m.layer_types[i], m.experts > 0)
    out[mp + "decoder.final_layernorm.weight"] = (hf[hp + "norm.weight"], REP)
    # Tied embeddings: no lm_head; a last pipeline stage's output layer holds the embedding.
    out[mp + "output_layer.weight"] = (hf.get("lm_head.weight", hf[hp + "embed_tokens.weight"]), COL)
    for j in range(m.mtp_layers):
        n = f"{mp}mtp.layers.{j}."
        out[n + "enorm.weight"] = (hf["mtp.pre_fc_norm_embedding.weight"], REP)
        out[n + "hnorm.weight"] = (hf["mtp.pre_fc_norm_hidden.weight"], REP)
        out[n + "eh_proj.weight"] = (hf["mtp.fc.weight"], COL)
        out[n + "final_layernorm.weight"] = (hf["mtp.norm.weight"], REP)
        _layer(out, hf, m, n + "mtp_model_layer.", f"mtp.layers.{j}.", "full_attention", m.experts > 0)
    m.tied = "lm_head.weight" not in hf
    return out, m


def local_slice(tensor, split, rank, size):
    """Tensor-parallel rank `rank` of `size`: its piece of a TP=1 tensor, in the rank's in-memory layout."""
    if size == 1 or split == REP:
        return tensor
    kind = split[len("expert_"):] if split.startswith("expert_") else split
    if kind in (COL, QKV):
        return tensor.chunk(size, 0)[rank]
    if kind == ROW:
        return tensor.chunk(size, 1)[rank]
    if kind == FC1:
        gate, up = tensor.chunk(2, 0)
        return torch.cat([gate.chunk(size, 0)[rank], up.chunk(size, 0)[rank]])
    raise ValueError(f"split {split} needs the GDN geometry: use gdn_slice")


def gdn_slice(tensor, split, rank, size, m):
    """GDN in_proj / conv1d: each section ([q, k, v, z, beta, alpha] or [q, k, v]) is cut per rank and re-joined."""
    qk, vd, nv = m.nk * m.dk, m.nv * m.dv, m.nv
    sections = [qk, qk, vd, vd, nv, nv] if split == INPROJ else [qk, qk, vd]
    parts = torch.split(tensor, sections, 0)
    return torch.cat([p.chunk(size, 0)[rank] for p in parts])


def rank_piece(tensor, split, rank, size, m):
    if split in (INPROJ, CONV) and size > 1:
        return gdn_slice(tensor, split, rank, size, m)
    return local_slice(tensor, split, rank, size)


_GDN_SPLITS = {"self_attention.in_proj.weight": ["query", "key", "value", "z", "beta", "alpha"],
               "self_attention.conv1d.weight": ["query", "key", "value"]}


def dist_tensors(table, m, mtp_name="transformer_layer"):
    """megatron-core's distributed-checkpoint keys -> global tensor, regrouped from the per-parameter table.

    Language-model layers are per-layer keys for the Qwen3.5/3.6 bridges (they set megatron-core's heterogeneous
    checkpoint flag: their layers differ, GDN or attention) and stacked on a leading layer axis otherwise (Qwen3-VL,
    as TransformerBlock.sharded_state_dict does for uniform layers); the vision encoder's layers and deepstack
    mergers are stacked; grouped experts are stacked on an expert axis (after the layer axis); GDN in_proj / conv1d
    are split into one key per section; the MTP inner layer is saved under ``mtp_name`` (current megatron-core's
    ``transformer_layer`` by default; older releases used ``mtp_model_layer``).
    """
    per_layer_lm = "linear_attention" in m.layer_types
    out = {}
    grouped = {}
    for name, (t, split) in table.items():
        if name.endswith("output_layer.weight") and m.tied:
            continue
        name = name.replace(".mtp_model_layer.", f".{mtp_name}.")
        index = ()
        mt = re.match(r"^(vision_model\.decoder\.(?:layers|deepstack_merger_list)|(?:language_model\.)?decoder\.layers)\.(\d+)\.(.*)$", name)
        if mt and not (per_layer_lm and not mt.group(1).startswith("vision_model")):
            name, index = mt.group(1) + "." + mt.group(3), (int(mt.group(2)),)
        me = re.match(r"^(.*\.experts\.linear_fc[12]\.weight)(\d+)$", name)
        if me:
            name, index = me.group(1), index + (int(me.group(2)),)
        suffix = next((s for s in _GDN_SPLITS if name.endswith(s)), None)
        pieces = zip([f"{name}.{k}" for k in _GDN_SPLITS[suffix]], torch.split(t, _gdn_sections(suffix, m), 0)) if suffix else [(name, t)]
        for key, piece in pieces:
            if index:
                grouped.setdefault(key, {})[index] = piece
            else:
                out[key] = piece
    for key, parts in grouped.items():
        out[key] = _stack(parts)
    return out


def _stack(parts):
    """{(i, j, ...): tensor} -> one tensor with a leading axis per index position."""
    if all(len(i) == 1 for i in parts):
        return torch.stack([parts[i] for i in sorted(parts)])
    outer = {}
    for index, t in parts.items():
        outer.setdefault(index[0], {})[index[1:]] = t
    return torch.stack([_stack(outer[i]) for i in sorted(outer)])


def _gdn_sections(suffix, m):
    qk, vd, nv = m.nk * m.dk, m.nv * m.dv, m.nv
    return [qk, qk, vd, vd, nv, nv] if suffix.endswith("in_proj.weight") else [qk, qk, vd]
