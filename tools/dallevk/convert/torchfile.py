"""Reads PyTorch checkpoint files without PyTorch and without running pickled code.

A file written by torch.save is a pickle (inside a zip archive since PyTorch 1.6, or followed by raw
storages in the older "legacy" layout). Unpickling it normally imports and calls whatever classes it
names. Here every global the pickle names must be in an allow-list:

- tensor rebuild functions (torch._utils._rebuild_tensor_v2, _rebuild_parameter, ...) become
  LazyTensor objects: shape, stride, offset and dtype, with the bytes read from the file only when
  .numpy() is called (one storage at a time, so a converter never holds every tensor at once);
- torch.*Storage types, torch dtypes (as names), torch.device, torch.Size, collections.OrderedDict /
  defaultdict and the plain builtin data types (dict, list, set, int, str, ...);
- the model classes a caller expects (e.g. dall_e.encoder.Encoder, torch.nn.modules.*) become Record
  instances that keep the pickled state as data (no method of the real class ever runs);
- classes under caller-given "opaque" module prefixes (training metadata such as omegaconf or
  pytorch_lightning objects in a Lightning .ckpt) become inert Records too.
Anything else is refused: ConvertError naming the file and the class.

    with open_checkpoint(path, allow=DVAE_CLASSES) as ck:
        obj = ck.root                          # the unpickled object graph
        for name, t in module_tensors(obj).items():
            t.shape, t.numpy()                 # float32 (or integer) numpy array, C order
"""
import collections
import os
import pickle
import struct
import zipfile

import numpy as np

from . import ConvertError

# storage class name -> numpy dtype ("bf16" is converted to float32 when read)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "bf16", "DoubleStorage": "<f8",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _itemsize(dtype):
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


class StorageType:
    """A torch.<X>Storage class named by the pickle."""

    def __init__(self, name):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class Storage:
    """One storage of the file: numel elements of dtype, read by the checkpoint on demand."""

    def __init__(self, ckpt, key, stype, numel):
        self.ckpt, self.key, self.dtype, self.numel = ckpt, key, stype.dtype, int(numel)

    def read(self):
        raw = self.ckpt._read_storage(self.key, self.numel * _itemsize(self.dtype))
        if self.dtype == "bf16":
            return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, self.dtype)


class LazyTensor:
    """A tensor of the checkpoint: shape and stride (elements), offset into its storage; numpy()
    reads it (floating types as float32, integer and bool types as they are)."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, int(offset)
        self.shape, self.stride = tuple(int(s) for s in shape), tuple(int(s) for s in stride)
        if len(self.shape) != len(self.stride) or any(s < 0 for s in self.shape + self.stride) or self.offset < 0:
            raise ConvertError("%s: tensor with bad shape %s / stride %s"
                               % (storage.ckpt.path, self.shape, self.stride))
        end = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) + 1
        if min(self.shape, default=1) > 0 and end > storage.numel:
            raise ConvertError("%s: tensor %s reaches element %d of a storage of %d" % (
                storage.ckpt.path, list(self.shape), end, storage.numel))

    @property
    def dtype(self):
        return self.storage.dtype

    def numpy(self):
        flat = self.storage.read()
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.shape,
                                               [s * item for s in self.stride], writeable=False)
        out = np.array(view, order="C")
        return out.astype(np.float32) if out.dtype.kind == "f" and out.dtype != np.float32 else out

    def __repr__(self):
        return "LazyTensor(%s, %s)" % (self.dtype, list(self.shape))


class Record:
    """An instance of a pickled class, kept as data: cls_name (module.Class), args (constructor
    arguments, if any) and state (what pickle would have given __setstate__, usually the __dict__)."""
    cls_name = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.state = args, None

    def __setstate__(self, state):
        self.state = state

    def __call__(self, *args, **kwargs):  # an opaque global used as a function
        return self

    def get(self, key, default=None):
        return self.state.get(key, default) if isinstance(self.state, dict) else default

    def __repr__(self):
        return "Record(%s)" % self.cls_name


def module_tensors(rec, prefix=""):
    """name -> LazyTensor of a pickled nn.Module Record, in state_dict order and naming (parameters,
    then persistent buffers, then children; None entries skipped)."""
    out = collections.OrderedDict()
    if not isinstance(rec, Record):
        return out
    skip = rec.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, t in (rec.get(group) or {}).items():
            if t is not None and not (group == "_buffers" and name in skip):
                out[prefix + name] = t
    for name, child in (rec.get("_modules") or {}).items():
        out.update(module_tensors(child, prefix + name + "."))
    return out


def _rebuild_tensor(storage, offset, size, stride, *rest):
    return LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *rest):
    return data


def _device(*args):
    return str(args[0]) if args else "cpu"


_SAFE_GLOBALS = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.device": _device,
    "torch.Size": tuple,
    "collections.OrderedDict": collections.OrderedDict,
    "collections.defaultdict": collections.defaultdict,
}
# plain data types that training metadata may name (e.g. omegaconf's object_type=dict)
_PLAIN_TYPES = (set, frozenset, dict, list, tuple, int, float, str, bytes, bool, complex)
_SAFE_GLOBALS.update({"builtins." + t.__name__: t for t in _PLAIN_TYPES})
TORCH_DTYPES = frozenset(("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8",
                          "uint8", "bool", "float", "half", "double", "long", "int"))
_OLD_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, ckpt):
        super().__init__(f)
        self.ckpt = ckpt

    def find_class(self, module, name):
        module = _OLD_MODULES.get(module, module)
        full = module + "." + name
        c = self.ckpt
        if full in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[full]
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        if module == "torch" and name in TORCH_DTYPES:  # a dtype named in metadata: kept as its name
            return full
        if full == "copyreg._reconstructor":
            return _reconstructor
        if full in c.allow or any(full.startswith(p) for p in c.opaque):
            return _record_class(full)
        raise ConvertError("%s: refusing to unpickle class '%s': not one this converter expects in %s "
                           "(the file is not %s, or was not written by its usual tools)"
                           % (c.path, full, c.what, c.what))

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage" or len(pid) < 5:
            raise ConvertError("%s: unexpected persistent id %r" % (self.ckpt.path, pid))
        stype, key, _location, numel = pid[1:5]
        if not isinstance(stype, StorageType):
            raise ConvertError("%s: storage of unsupported type %r" % (self.ckpt.path, stype))
        if len(pid) > 5 and pid[5] is not None:
            raise ConvertError("%s: storage views of the pre-0.4 format are not supported" % self.ckpt.path)
        return self.ckpt._storage(str(key), stype, numel)


_RECORD_CLASSES = {}


def _record_class(full):
    if full not in _RECORD_CLASSES:
        _RECORD_CLASSES[full] = type(full.rsplit(".", 1)[1], (Record,), {"cls_name": full})
    return _RECORD_CLASSES[full]


def _reconstructor(cls, base, state=None):
    """copyreg._reconstructor (protocol 0/1 object pickling), allowed only for Record classes."""
    if not (isinstance(cls, type) and issubclass(cls, Record)):
        raise ConvertError("copyreg._reconstructor called with %r" % (cls,))
    return cls()


class Checkpoint:
    """An open checkpoint file. root: the unpickled object graph; close() (or a with block) closes
    the file, after which tensors can no longer be read."""

    def __init__(self, path, allow=(), opaque=(), what="a PyTorch checkpoint"):
        self.path, self.allow, self.opaque, self.what = os.fspath(path), frozenset(allow), tuple(opaque), what
        self.storages = {}
        self._zip = self._file = None
        try:
            self._file = open(self.path, "rb")
        except OSError as e:
            raise ConvertError("%s: cannot open: %s" % (self.path, e.strerror)) from None
        try:
            if zipfile.is_zipfile(self._file):
                self._open_zip()
            else:
                self._open_legacy()
        except ConvertError:
            self.close()
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, struct.error, zipfile.BadZipFile, OSError) as e:
            self.close()
            raise ConvertError("%s: not a readable PyTorch checkpoint (%s: %s); is it truncated or a "
                               "different kind of file?" % (self.path, type(e).__name__, e)) from None

    # --- zip layout (torch >= 1.6): <name>/data.pkl, <name>/data/<key>, <name>/byteorder ---------
    def _open_zip(self):
        self._zip = zipfile.ZipFile(self._file)
        pkls = [n for n in self._zip.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ConvertError("%s: a zip file without exactly one <name>/data.pkl: not a torch.save file"
                               % self.path)
        self._prefix = pkls[0][:-len("data.pkl")]
        order = self._prefix + "byteorder"
        if order in self._zip.namelist() and self._zip.read(order).strip() != b"little":
            raise ConvertError("%s: big-endian checkpoints are not supported" % self.path)
        with self._zip.open(pkls[0]) as f:
            self.root = _Unpickler(f, self).load()

    # --- legacy layout: magic, protocol, sys_info, root pickle, key list, then raw storages ------
    def _open_legacy(self):
        f = self._file
        f.seek(0)
        head = f.read(2)
        if head == b"PK":
            raise ConvertError("%s: a zip archive without its central directory: truncated file?" % self.path)
        if len(head) < 2 or head[0] != 0x80:
            raise ConvertError("%s: not a PyTorch checkpoint (neither a zip archive nor a pickle)" % self.path)
        f.seek(0)
        if _Unpickler(f, self).load() != LEGACY_MAGIC:
            raise ConvertError("%s: a pickle, but not a PyTorch checkpoint (no torch.save magic number)"
                               % self.path)
        _Unpickler(f, self).load()                   # protocol version
        info = _Unpickler(f, self).load()            # sys_info
        if isinstance(info, dict) and info.get("little_endian") is False:
            raise ConvertError("%s: big-endian checkpoints are not supported" % self.path)
        self.root = _Unpickler(f, self).load()
        keys = _Unpickler(f, self).load()
        self._legacy_offsets = {}
        pos = f.tell()
        size = os.fstat(f.fileno()).st_size
        for key in keys:
            st = self.storages.get(str(key))
            if st is None:
                raise ConvertError("%s: storage %r listed but never used" % (self.path, key))
            f.seek(pos)
            raw = f.read(8)
            if len(raw) < 8:
                raise ConvertError("%s: truncated: storage %r is missing" % (self.path, key))
            (n,) = struct.unpack("<q", raw)
            nbytes = n * _itemsize(st.dtype)
            if n != st.numel or pos + 8 + nbytes > size:
                raise ConvertError("%s: truncated or corrupt: storage %r needs %d bytes at offset %d, file "
                                   "has %d" % (self.path, key, nbytes, pos + 8, size))
            self._legacy_offsets[str(key)] = pos + 8
            pos += 8 + nbytes

    def _storage(self, key, stype, numel):
        st = self.storages.get(key)
        if st is None:
            st = self.storages[key] = Storage(self, key, stype, numel)
        return st

    def _read_storage(self, key, nbytes):
        if self._file is None:
            raise ConvertError("%s: read after close" % self.path)
        try:
            if self._zip is not None:
                raw = self._zip.read(self._prefix + "data/" + key)
            else:
                self._file.seek(self._legacy_offsets[key])
                raw = self._file.read(nbytes)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError) as e:
            raise ConvertError("%s: storage %s cannot be read (%s: %s); truncated file?"
                               % (self.path, key, type(e).__name__, e)) from None
        if len(raw) < nbytes:
            raise ConvertError("%s: storage %s has %d bytes, needs %d: truncated file?"
                               % (self.path, key, len(raw), nbytes))
        return raw[:nbytes]

    def close(self):
        if self._zip is not None:
            self._zip.close()
        if self._file is not None:
            self._file.close()
        self._zip = self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_checkpoint(path, allow=(), opaque=(), what="a PyTorch checkpoint"):
    """Opens and unpickles path with the allow-list (full class names -> Records) and opaque module
    prefixes (-> inert Records); what names the expected kind of file in messages."""
    return Checkpoint(path, allow, opaque, what)
