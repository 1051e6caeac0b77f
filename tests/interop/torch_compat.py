"""Imports PyTorch's own checkpoint readers and writers on the Debian 12 build (torch 1.13, Python 3.11).

Two version gaps are bridged here, both only around imports, never around data:
- torch 1.13 keeps distributed checkpointing (DCP) in ``torch.distributed._shard.checkpoint``. Its metadata module
  gives a dataclass field a ``TensorProperties()`` instance as default; Python 3.11 rejects unhashable dataclass
  defaults, so while DCP is imported such a default is turned into a ``default_factory`` that copies it.
- torch 2.x moved those classes to ``torch.distributed.checkpoint.metadata`` (the module our `.metadata` pickles name,
  as torch 2.x writes them); module aliases let 1.13's unpickler find them there.
"""
import copy
import dataclasses
import sys
import types

import torch


def _import_dcp():
    original = dataclasses._get_field

    def get_field(cls, name, type_, *rest):
        default = cls.__dict__.get(name, dataclasses.MISSING)
        value = default.default if isinstance(default, dataclasses.Field) else default
        if value is not dataclasses.MISSING and type(value).__name__ == "TensorProperties" and type(value).__hash__ is None:
            setattr(cls, name, dataclasses.field(default_factory=lambda v=value: copy.copy(v)))
        return original(cls, name, type_, *rest)

    dataclasses._get_field = get_field
    try:
        import torch.distributed._shard.checkpoint as dcp
    finally:
        dataclasses._get_field = original
    return dcp


dcp = _import_dcp()

# torch 2.x module names of the DCP classes, aliased onto 1.13's (StorageMeta is new in 2.x: a plain record here).
class StorageMeta:
    """torch 2.x's StorageMeta: checkpoint_id, save_id, load_id, modules (set from the pickled state)."""

    checkpoint_id = None
    save_id = None
    load_id = None
    modules = None


if "torch.distributed.checkpoint" not in sys.modules:
    from torch.distributed._shard.sharded_tensor.metadata import MEM_FORMAT_ENCODING, TensorProperties

    package = types.ModuleType("torch.distributed.checkpoint")
    package.__path__ = []
    metadata = types.ModuleType("torch.distributed.checkpoint.metadata")
    for name in ("Metadata", "MetadataIndex", "ChunkStorageMetadata", "TensorStorageMetadata", "BytesStorageMetadata"):
        setattr(metadata, name, getattr(dcp.metadata, name))
    metadata.TensorProperties = TensorProperties
    metadata._MEM_FORMAT_ENCODING = MEM_FORMAT_ENCODING
    metadata.StorageMeta = StorageMeta
    filesystem = types.ModuleType("torch.distributed.checkpoint.filesystem")
    filesystem._StorageInfo = dcp.filesystem._StorageInfo
    package.metadata = metadata
    package.filesystem = filesystem
    sys.modules["torch.distributed.checkpoint"] = package
    sys.modules["torch.distributed.checkpoint.metadata"] = metadata
    sys.modules["torch.distributed.checkpoint.filesystem"] = filesystem


def require_torch_1_13_or_newer():
    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    if (major, minor) < (1, 13):
        raise SystemExit(f"interop: torch {torch.__version__} is too old (1.13 or newer needed)")
