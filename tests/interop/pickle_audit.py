"""Static check that a pickle would load under torch 2.x's ``torch.load(weights_only=True)``.

Megatron-LM loads legacy rank files (and megatron-core the torch.save'd objects inside a torch_dist checkpoint) with
``torch.load`` defaults, which are weights-only from torch 2.6. Debian's torch 1.13 has an older weights-only
unpickler (without BINFLOAT), so instead of loading, every opcode and every global of our pickles is checked against
what torch 2.x's ``torch/_weights_only_unpickler.py`` accepts: the opcodes its ``Unpickler.load`` handles, and the
globals of its ``_get_allowed_globals`` (OrderedDict, Counter, Parameter, the tensor rebuild functions, torch.Size,
torch.device, the dtypes, the storage classes, ``_get_layout``, ``_codecs.encode``, bytearray, set, complex).
"""
import io
import pickletools
import zipfile

import torch

# Opcodes torch 2.x's weights-only Unpickler.load handles (FRAME/MEMOIZE/STACK_GLOBAL are not among them: the
# pickles must be protocol 2, as torch.save writes).
ALLOWED_OPCODES = {
    "APPEND", "APPENDS", "BINFLOAT", "BINGET", "BININT", "BININT1", "BININT2", "BINPERSID", "BINPUT", "BINUNICODE",
    "BUILD", "EMPTY_DICT", "EMPTY_LIST", "EMPTY_SET", "EMPTY_TUPLE", "GLOBAL", "LONG1", "LONG_BINGET", "LONG_BINPUT",
    "MARK", "NEWFALSE", "NEWOBJ", "NEWTRUE", "NONE", "PROTO", "REDUCE", "SETITEM", "SETITEMS", "SHORT_BINSTRING",
    "STOP", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
}


def allowed_globals():
    names = {
        "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device", "_codecs.encode",
        "builtins.bytearray", "builtins.set", "builtins.complex", "torch._tensor._rebuild_from_type_v2",
    }
    names |= {str(v) for v in vars(torch).values() if isinstance(v, torch.dtype)}
    names |= {f"{s.__module__}.{s.__name__}" for s in torch._storage_classes}
    names |= {f"torch._utils.{f}" for f in (
        "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor",
        "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor")}
    names |= {"torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
              "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams"}
    return names


_ALLOWED = allowed_globals()


def audit_pickle(data, where):
    """Problems (empty when the pickle only uses what torch 2.x's weights-only unpickler accepts)."""
    problems = []
    for op, arg, _ in pickletools.genops(data):
        if op.name not in ALLOWED_OPCODES:
            problems.append(f"{where}: opcode {op.name} is not accepted by torch's weights-only unpickler")
        elif op.name == "GLOBAL":
            name = arg.replace(" ", ".", 1)
            if name not in _ALLOWED:
                problems.append(f"{where}: global {name} is not on torch's weights-only allow-list")
    return sorted(set(problems))


def audit_torch_save(blob, where):
    """Audits the data.pkl of a torch.save archive (bytes)."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            return [f"{where}: not a torch.save archive (no single data.pkl)"]
        return audit_pickle(z.read(pkl[0]), where)


def data_pkl(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"))
