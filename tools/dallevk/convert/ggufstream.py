"""A GGUF writer that reads each tensor from its source only while writing it.

GGUFWriter (tools/dallevk/gguf.py) copies every tensor when it is added; a converter of a multi-GB
checkpoint must not. StreamingGGUFWriter takes a tensor as (name, shape, type, load): the header is
written from the declared shapes, then load() is called once per tensor during write() and its
result converted, checked against the declared shape and written before the next one is read. Peak
memory is about one tensor (its source array and its converted copy), and the file appears only
complete (GGUFWriter.write: temp file in the same directory, then os.replace).
"""
import numpy as np

from ..gguf import GGMLType, GGUFError, GGUFWriter, quantize_q8_0, tensor_nbytes
from . import ConvertError

_GGML = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0}


class _Pending:
    """Stands in for the array GGUFWriter would hold: shape and nbytes now, bytes when written."""

    def __init__(self, name, shape, gtype, load, source):
        self.name, self.shape, self.gtype, self.load = name, tuple(shape), gtype, load
        self.nbytes = tensor_nbytes(gtype, self.shape)
        self.what = "tensor %r" % name if source is None else "%s: tensor '%s' (-> %r)" % (source[0], source[1], name)

    def tobytes(self):
        arr = np.asarray(self.load())
        if tuple(arr.shape) != self.shape:
            raise ConvertError("%s: source has shape %s, expected %s" % (self.what, list(arr.shape), list(self.shape)))
        if self.gtype == GGMLType.F16:
            with np.errstate(over="ignore"):
                out = arr.astype("<f2")
            bad = np.isfinite(arr) & ~np.isfinite(out)
            if bad.any():
                raise ConvertError("%s: %d values overflow f16 (largest magnitude %g); convert with --type f32"
                                   % (self.what, int(bad.sum()), float(np.abs(arr[bad]).max())))
            return out.tobytes()
        if self.gtype == GGMLType.Q8_0:
            return quantize_q8_0(arr).tobytes()
        return arr.astype("<f4").tobytes()


class StreamingGGUFWriter(GGUFWriter):
    """GGUFWriter whose tensors are declared with add_tensor_source and read while writing."""

    def add_tensor_source(self, name, shape, dtype, load, source=None):
        """Declares tensor name of PyTorch-order shape, stored as dtype "f32", "f16" or "q8_0" (the last dim a
        multiple of 32); load() returns
        the array (any float dtype) when the file is written; source = (input file, its tensor name),
        for messages."""
        if name in self._tensors:
            raise GGUFError("duplicate tensor name %r" % name)
        if not 1 <= len(shape) <= 4 or 0 in shape:
            raise GGUFError("tensor %r: shape %s must have 1..4 dims, none 0" % (name, list(shape)))
        if dtype not in _GGML:
            raise GGUFError("tensor %r: dtype %r is not f32, f16 or q8_0" % (name, dtype))
        if dtype == "q8_0" and shape[-1] % 32:
            raise GGUFError("tensor %r: q8_0 needs the last dim a multiple of 32, shape %s" % (name, list(shape)))
        self._tensors[name] = (_GGML[dtype], _Pending(name, shape, _GGML[dtype], load, source))

    def tensor_names(self):
        return list(self._tensors)
