"""What a converter produces: typed keys and tensors to write, and the writing of a plan to GGUF."""
import os

from ..gguf import GGUFValueType, add_general, tensor_type
from .ggufstream import StreamingGGUFWriter

ARCH = "dalle"


class Plan:
    """keys: [(type, key, value)] with type a GGUFWriter add_<type> suffix ("uint32", "float32",
    "bool", "string") or "array_<elem type>" ("array_uint32"); tensors: [(GGUF name, PyTorch-order
    shape, load, source)] where load() returns the array to store and source is (input file, its
    tensor name) or None."""

    def __init__(self):
        self.keys, self.tensors = [], []

    def key(self, vtype, key, value):
        self.keys.append((vtype, key, value))

    def tensor(self, name, shape, load, source=None):
        self.tensors.append((name, tuple(shape), load, source))

    def extend(self, other):
        self.keys += other.keys
        self.tensors += other.tensors


def write_plan(out, plan, dtype="f16", name=None, license=None, description=None):
    """Writes plan to out (atomically). dtype "f16" stores tensors of 2+ dims as f16 and 1-D tensors
    as f32 (docs/model-format.md §3); "f32" stores everything as f32; "q8_0" also stores 2-D tensors whose
    last dim is a multiple of 32 as q8_0 (gguf.tensor_type). Returns the tensor count."""
    w = StreamingGGUFWriter()
    add_general(w, ARCH, dtype, name, license, description)
    for vtype, key, value in plan.keys:
        if vtype.startswith("array_"):
            w.add_array(key, list(value), GGUFValueType[vtype[len("array_"):].upper()])
        else:
            getattr(w, "add_" + vtype)(key, value)
    for tname, shape, load, source in plan.tensors:
        w.add_tensor_source(tname, shape, tensor_type(dtype, shape), load, source)
    w.write(os.fspath(out))
    return len(plan.tensors)
