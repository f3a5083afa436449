"""A small GGUF v3 writer and reader (pure Python + numpy), the file format of dalle-vk models.

Layout (little-endian), as in llama.cpp / whisper.cpp:
  "GGUF" | u32 version=3 | u64 tensor_count | u64 kv_count
  kv_count x (string key | u32 value type | value)
  tensor_count x (string name | u32 n_dims | u64 dims[n_dims] (ggml order: dims[0] fastest)
                  | u32 ggml type (0 F32, 1 F16, 8 Q8_0) | u64 offset from the data section)
  zero padding to general.alignment (default 32) | data section (each tensor at an aligned offset)
A string is u64 length + bytes (UTF-8, no terminator). An array value is u32 element type,
u64 count, elements. Schema of dalle-vk files: docs/model-format.md.

Shapes: this module takes and returns numpy arrays in PyTorch order (outermost first, row-major);
the file stores dims reversed (ggml order). A [out, in] weight is written with dims [in, out].

Writer:
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_uint32("dalle.grid", 16)
    w.add_array("dalle.attn_types", ["row", "col"], GGUFValueType.STRING)
    w.add_tensor("text_emb", np.zeros((10, 4), np.float32), dtype="f16")
    w.write("model.gguf")            # temp file in the same directory + os.replace
Reader:
    r = GGUFReader("model.gguf")
    r.fields["dalle.grid"].value      # 16;  .type is the GGUFValueType
    r.get("dalle.grid")               # 16 (KeyError if missing)
    r.tensors["text_emb"].data        # np.ndarray float16 [10, 4] (a view into the file)

Q8_0 (ggml's 8-bit blocks): w.add_tensor(name, array, "q8_0") quantises with quantize_q8_0 (the last dim a
multiple of 32); the reader decodes such a tensor to float32 (dequantize_q8_0) and keeps the bytes in .raw.
tensor_type() is the one rule for which type each tensor of a model file gets.
"""
import enum
import io
import os
import struct
import tempfile

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


class GGUFValueType(enum.IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


class GGMLType(enum.IntEnum):
    F32 = 0
    F16 = 1
    Q8_0 = 8


Q8_0_BLOCK = 32   # values per q8_0 block
Q8_0_BYTES = 34   # bytes per block: f16 scale d, then 32 int8 q
# general.file_type of a file written with each --type (ggml's file type ids: 7 = mostly q8_0)
FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}


def add_general(w, arch, file_type, name=None, license=None, description=None):
    """The general.* keys every model file starts with, on any writer with add_string / add_uint32:
    architecture, the optional name / license / description, general.file_type of file_type."""
    w.add_string("general.architecture", arch)
    for k, v in (("general.name", name), ("general.license", license), ("general.description", description)):
        if v:
            w.add_string(k, v)
    w.add_uint32("general.file_type", FILE_TYPES[file_type])


def tensor_type(file_type, shape):
    """The stored type of a tensor of PyTorch-order shape in a file of file_type "f32", "f16" or "q8_0"
    (docs/model-format.md §3): 1-D tensors are always f32; with "q8_0", 2-D tensors whose last dim is a
    multiple of 32 are q8_0 and every other tensor of 2+ dims f16."""
    if file_type not in FILE_TYPES:
        raise GGUFError("tensor type %r is not f32, f16 or q8_0" % (file_type,))
    if file_type == "f32" or len(shape) < 2:
        return "f32"
    if file_type == "q8_0" and len(shape) == 2 and shape[-1] % Q8_0_BLOCK == 0:
        return "q8_0"
    return "f16"


def quantize_q8_0(array):
    """ggml's q8_0 quantisation of a float array whose last dim is a multiple of 32: per block of 32
    consecutive values, d = max|x| / 127 (float32), q = round(x * (1 / d)) half away from zero (0 where d is
    0), stored as the f16 d then the 32 int8 q. Returns uint8 [..., last / 32 * 34], the file bytes."""
    x = np.asarray(array, np.float32)
    if x.ndim < 1 or x.shape[-1] % Q8_0_BLOCK:
        raise GGUFError("q8_0: the last dim %s is not a multiple of %d" % (x.shape[-1:], Q8_0_BLOCK))
    blocks = x.reshape(-1, Q8_0_BLOCK)
    d = np.abs(blocks).max(axis=1) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (blocks * inv[:, None]).astype(np.float64)  # the f32 product, rounded like C's roundf
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    out = np.empty((blocks.shape[0], Q8_0_BYTES), np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(x.shape[:-1] + (x.shape[-1] // Q8_0_BLOCK * Q8_0_BYTES,))


def dequantize_q8_0(raw, shape):
    """Decodes q8_0 file bytes (any bytes-like or uint8 array) of a tensor of PyTorch-order shape to float32 d * q."""
    b = np.frombuffer(raw, np.uint8) if not isinstance(raw, np.ndarray) else raw.reshape(-1).view(np.uint8)
    b = b.reshape(-1, Q8_0_BYTES)
    d = b[:, :2].copy().view("<f2").astype(np.float32)
    q = b[:, 2:].view(np.int8).astype(np.float32)
    return (d * q).reshape(shape)


def tensor_nbytes(gtype, shape):
    """Bytes of a tensor of gtype and PyTorch-order shape in the file."""
    n = int(np.prod(shape, dtype=object))
    return n // Q8_0_BLOCK * Q8_0_BYTES if gtype == GGMLType.Q8_0 else n * _TENSOR_NP[gtype].itemsize


class _Q8Data:
    """What GGUFWriter holds for a q8_0 tensor: the logical shape and the block bytes."""

    def __init__(self, array):
        self.shape = tuple(np.shape(array))
        self.raw = quantize_q8_0(array)
        self.nbytes = self.raw.nbytes

    def tobytes(self):
        return self.raw.tobytes()


# struct format of each scalar type (little-endian).
_SCALAR_FMT = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
# numpy dtype of each scalar type, for arrays.
_SCALAR_NP = {
    GGUFValueType.UINT8: "<u1", GGUFValueType.INT8: "<i1", GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2", GGUFValueType.UINT32: "<u4", GGUFValueType.INT32: "<i4",
    GGUFValueType.FLOAT32: "<f4", GGUFValueType.BOOL: "<u1", GGUFValueType.UINT64: "<u8",
    GGUFValueType.INT64: "<i8", GGUFValueType.FLOAT64: "<f8",
}
_TENSOR_NP = {GGMLType.F32: np.dtype("<f4"), GGMLType.F16: np.dtype("<f2"),
              GGMLType.Q8_0: np.dtype("<u2")}  # q8_0: read as 2-byte units (its alignment), decoded on read
_INT_RANGE = {
    GGUFValueType.UINT8: (0, 2**8 - 1), GGUFValueType.INT8: (-2**7, 2**7 - 1),
    GGUFValueType.UINT16: (0, 2**16 - 1), GGUFValueType.INT16: (-2**15, 2**15 - 1),
    GGUFValueType.UINT32: (0, 2**32 - 1), GGUFValueType.INT32: (-2**31, 2**31 - 1),
    GGUFValueType.UINT64: (0, 2**64 - 1), GGUFValueType.INT64: (-2**63, 2**63 - 1),
}


class GGUFError(ValueError):
    """A malformed or unsupported GGUF file (reader) or a bad value (writer)."""


def _align(n, a):
    return (n + a - 1) // a * a


def _pack_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_scalar(vtype, value):
    if vtype in _INT_RANGE:
        lo, hi = _INT_RANGE[vtype]
        if isinstance(value, bool) or int(value) != value or not lo <= int(value) <= hi:
            raise GGUFError("value %r does not fit %s" % (value, vtype.name.lower()))
        value = int(value)
    elif vtype == GGUFValueType.BOOL:
        if not isinstance(value, (bool, np.bool_)):
            raise GGUFError("value %r is not a bool" % (value,))
        value = bool(value)
    return struct.pack(_SCALAR_FMT[vtype], value)


class GGUFWriter:
    """Collects typed key/values and tensors, then writes one GGUF v3 file.

    Keys and tensors are written in insertion order. Duplicate keys or tensor names raise
    GGUFError. Tensor data is copied when added (later changes to the array do not matter)."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError("alignment %d is not a power of two" % alignment)
        if alignment < 4:  # f32 data must be 4-byte aligned for the engine (src/model/gguf.c rejects it)
            raise GGUFError("alignment %d is below 4: f32 tensor data would be misaligned" % alignment)
        self.alignment = alignment
        self._kv = {}        # key -> (GGUFValueType, encoded value bytes)
        self._tensors = {}   # name -> (GGMLType, C-contiguous little-endian ndarray)
        if alignment != DEFAULT_ALIGNMENT:
            self.add_uint32("general.alignment", alignment)

    # --- key/values -------------------------------------------------------------------------
    def _add(self, key, vtype, payload):
        if not key or not all(0x21 <= ord(ch) <= 0x7E for ch in key):
            raise GGUFError("key %r must be non-empty printable ASCII" % (key,))
        if key in self._kv:
            raise GGUFError("duplicate key %r" % key)
        self._kv[key] = (vtype, payload)

    def add_scalar(self, key, value, vtype):
        vtype = GGUFValueType(vtype)
        if vtype == GGUFValueType.STRING:
            return self.add_string(key, value)
        if vtype == GGUFValueType.ARRAY:
            raise GGUFError("use add_array for arrays")
        self._add(key, vtype, _pack_scalar(vtype, value))

    def add_uint8(self, key, v): self.add_scalar(key, v, GGUFValueType.UINT8)
    def add_int8(self, key, v): self.add_scalar(key, v, GGUFValueType.INT8)
    def add_uint16(self, key, v): self.add_scalar(key, v, GGUFValueType.UINT16)
    def add_int16(self, key, v): self.add_scalar(key, v, GGUFValueType.INT16)
    def add_uint32(self, key, v): self.add_scalar(key, v, GGUFValueType.UINT32)
    def add_int32(self, key, v): self.add_scalar(key, v, GGUFValueType.INT32)
    def add_uint64(self, key, v): self.add_scalar(key, v, GGUFValueType.UINT64)
    def add_int64(self, key, v): self.add_scalar(key, v, GGUFValueType.INT64)
    def add_float32(self, key, v): self.add_scalar(key, v, GGUFValueType.FLOAT32)
    def add_float64(self, key, v): self.add_scalar(key, v, GGUFValueType.FLOAT64)
    def add_bool(self, key, v): self.add_scalar(key, v, GGUFValueType.BOOL)

    def add_string(self, key, value):
        if not isinstance(value, (str, bytes)):
            raise GGUFError("value of %r is not a string" % key)
        self._add(key, GGUFValueType.STRING, _pack_string(value))

    def add_array(self, key, values, elem_type):
        """An array of elem_type (any scalar type or STRING; nested arrays are not supported).
        Numeric values may be a list or a numpy array (range-checked, written little-endian)."""
        et = GGUFValueType(elem_type)
        if et == GGUFValueType.ARRAY:
            raise GGUFError("nested arrays are not supported")
        if et == GGUFValueType.STRING:
            vals = list(values)
            if not all(isinstance(v, (str, bytes)) for v in vals):
                raise GGUFError("array %r: elements are not all strings" % key)
            body = b"".join(_pack_string(v) for v in vals)
        else:
            arr = np.asarray(values)
            if arr.ndim != 1:
                arr = arr.reshape(-1)
            vals = arr
            if et in _INT_RANGE and arr.size:
                if arr.dtype.kind not in "iub":
                    if not np.all(np.equal(np.floor(arr), arr)):
                        raise GGUFError("array %r: non-integer values for %s" % (key, et.name.lower()))
                lo, hi = _INT_RANGE[et]
                if int(arr.min()) < lo or int(arr.max()) > hi:
                    raise GGUFError("array %r: values out of range of %s" % (key, et.name.lower()))
            if et == GGUFValueType.BOOL and arr.size and arr.dtype != np.bool_:
                raise GGUFError("array %r: elements are not bools" % key)
            body = arr.astype(_SCALAR_NP[et]).tobytes()
        self._add(key, GGUFValueType.ARRAY, struct.pack("<IQ", et, len(vals)) + body)

    # --- tensors ------------------------------------------------------------------------------
    def add_tensor(self, name, array, dtype="f32"):
        """Adds a tensor given PyTorch-style (outermost first); dtype "f32", "f16" or "q8_0" (the last dim a
        multiple of 32; quantize_q8_0). A torch tensor is accepted too (detached, moved to the CPU). 1..4
        dims, none of them 0."""
        if not name or len(name) > 255 or not all(0x21 <= ord(ch) <= 0x7E for ch in name):
            raise GGUFError("tensor name %r must be 1..255 printable ASCII characters" % (name,))
        if name in self._tensors:
            raise GGUFError("duplicate tensor name %r" % name)
        if hasattr(array, "detach"):
            array = array.detach().cpu().float().numpy()
        array = np.asarray(array)
        if not 1 <= array.ndim <= 4 or 0 in array.shape:
            raise GGUFError("tensor %r: shape %s must have 1..4 dims, none 0" % (name, array.shape))
        gtype = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0}.get(dtype)
        if gtype is None:
            raise GGUFError("tensor %r: dtype %r is not f32, f16 or q8_0" % (name, dtype))
        if array.dtype.kind not in "fiub":
            raise GGUFError("tensor %r: dtype %s is not numeric" % (name, array.dtype))
        if gtype == GGMLType.Q8_0:
            if array.shape[-1] % Q8_0_BLOCK:
                raise GGUFError("tensor %r: q8_0 needs the last dim a multiple of %d, shape %s"
                                % (name, Q8_0_BLOCK, list(array.shape)))
            self._tensors[name] = (gtype, _Q8Data(array))
            return
        with np.errstate(over="ignore"):  # f16 overflow is reported below
            data = np.array(array, dtype=_TENSOR_NP[gtype], order="C", copy=True)
        if gtype == GGMLType.F16:
            src = np.asarray(array, np.float64)
            if np.any(np.isfinite(src) & ~np.isfinite(data.astype(np.float64))):
                raise GGUFError("tensor %r: values overflow f16" % name)
        self._tensors[name] = (gtype, data)

    # --- output -------------------------------------------------------------------------------
    def _write_to(self, f):
        """Streams the file to the binary file object f (tensor data is not joined in memory)."""
        head = bytearray()
        head += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self._tensors), len(self._kv))
        for key, (vtype, payload) in self._kv.items():
            head += _pack_string(key) + struct.pack("<I", vtype) + payload
        offsets, offset = [], 0
        for name, (gtype, data) in self._tensors.items():
            dims = list(reversed(data.shape))
            head += _pack_string(name) + struct.pack("<I", len(dims))
            head += struct.pack("<%dQ" % len(dims), *dims)
            head += struct.pack("<IQ", gtype, offset)
            offsets.append(offset)
            offset = _align(offset + data.nbytes, self.alignment)
        f.write(head)
        if not self._tensors:
            return
        f.write(b"\0" * (_align(len(head), self.alignment) - len(head)))
        pos = 0
        for (gtype, data), off in zip(self._tensors.values(), offsets):
            f.write(b"\0" * (off - pos))  # padding before each tensor, none after the last
            f.write(data.tobytes())
            pos = off + data.nbytes

    def to_bytes(self):
        """The whole file as bytes."""
        buf = io.BytesIO()
        self._write_to(buf)
        return buf.getvalue()

    def write(self, path):
        """Writes the file atomically: a temp file in the same directory, fsync, os.replace."""
        path = os.fspath(path)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                self._write_to(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


# ------------------------------------------------------------------------------------------------
# Reader


class GGUFField:
    """One key/value: type (GGUFValueType), value (int/float/bool/str, or for arrays a list of
    str or a numpy array), elem_type (arrays only)."""

    def __init__(self, key, vtype, value, elem_type=None):
        self.key, self.type, self.value, self.elem_type = key, vtype, value, elem_type

    def __repr__(self):
        return "GGUFField(%r, %s, %r)" % (self.key, self.type.name, self.value)


class GGUFTensor:
    """One tensor: name, type (GGMLType), shape (PyTorch order), offset (in the data section),
    data (numpy array of that shape and dtype f32/f16, read-only view into the file bytes; q8_0: float32
    decoded values), raw (q8_0: the block bytes as stored; else None)."""

    def __init__(self, name, gtype, shape, offset, data, raw=None):
        self.name, self.type, self.shape, self.offset, self.data, self.raw = name, gtype, shape, offset, data, raw

    def __repr__(self):
        return "GGUFTensor(%r, %s, %s)" % (self.name, self.type.name, list(self.shape))


class _Cursor:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n, what):
        if n > len(self.buf) - self.pos:
            raise GGUFError("truncated in %s: needs %d bytes at offset %d, file has %d"
                            % (what, n, self.pos, len(self.buf)))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def string(self, what):
        (n,) = self.unpack("<Q", what)
        return bytes(self.take(n, what))

    def name(self, what, kind, max_len):
        """A key or tensor name: 1..max_len printable ASCII bytes."""
        b = self.string(what)
        if not 1 <= len(b) <= max_len:
            raise GGUFError("%s: %s length %d out of range 1..%d" % (what, kind, len(b), max_len))
        if not all(0x21 <= ch <= 0x7E for ch in b):
            raise GGUFError("%s: %s must be printable ASCII" % (what, kind))
        return b.decode("ascii")

    def text(self, what):
        try:
            return self.string(what).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GGUFError("%s: string is not UTF-8 (%s)" % (what, e)) from None


class GGUFReader:
    """Reads and validates a GGUF v2/v3 file from path or from data (bytes); GGUFError when it is
    malformed. Checks the structure like the C reader (src/model/gguf.c), which stays the
    authority for what the engine accepts."""

    def __init__(self, path=None, data=None):
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        self.path = path
        self.buf = memoryview(bytes(data))
        self.fields = {}
        self.tensors = {}
        self._parse()

    def get(self, key, default=KeyError):
        """Value of key; KeyError (or default) when missing."""
        if key not in self.fields:
            if default is KeyError:
                raise KeyError(key)
            return default
        return self.fields[key].value

    def arrays(self, schema, prefix=""):
        """{name: float32 numpy array} of the tensors prefix + name, for schema [(name, PyTorch shape)];
        ValueError naming the tensor when one is missing or has another shape."""
        out = {}
        for name, shape in schema:
            t = self.tensors.get(prefix + name)
            if t is None or tuple(t.shape) != tuple(shape):
                raise ValueError("%s: tensor '%s%s' %s, expected %s" % (
                    self.path, prefix, name, "missing" if t is None else "has shape %s" % list(t.shape),
                    list(shape)))
            out[name] = t.data.astype("float32")
        return out

    def _parse(self):
        c = _Cursor(self.buf)
        magic = bytes(c.take(4, "header"))
        if magic != GGUF_MAGIC:
            raise GGUFError("not a GGUF file (magic %r)" % magic)
        (self.version,) = c.unpack("<I", "header")
        if self.version not in (2, 3):
            raise GGUFError("unsupported GGUF version %d" % self.version)
        n_tensors, n_kv = c.unpack("<QQ", "header")
        if n_kv * 14 + n_tensors * 33 > len(self.buf) - c.pos:
            raise GGUFError("kv_count %d / tensor_count %d do not fit in the file" % (n_kv, n_tensors))
        for i in range(n_kv):
            what = "key/value %d" % i
            key = c.name(what, "key", 65535)
            if key in self.fields:
                raise GGUFError("duplicate key %r" % key)
            (vt,) = c.unpack("<I", what)
            self.fields[key] = self._value(c, vt, key, "%s (%r)" % (what, key))
        al = self.fields.get("general.alignment")
        if al is not None and al.type != GGUFValueType.UINT32:
            raise GGUFError("key 'general.alignment' has type %s, expected uint32" % al.type.name.lower())
        self.alignment = DEFAULT_ALIGNMENT if al is None else al.value
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GGUFError("general.alignment %d is not a power of two" % self.alignment)
        infos, names = [], set()
        for i in range(n_tensors):
            what = "tensor info %d" % i
            name = c.name(what, "tensor name", 255)
            (nd,) = c.unpack("<I", what)
            if not 1 <= nd <= 4:
                raise GGUFError("%s (%r): n_dims %d out of range 1..4" % (what, name, nd))
            dims = c.unpack("<%dQ" % nd, what)
            if 0 in dims:
                raise GGUFError("%s (%r): a dimension is 0" % (what, name))
            gt, off = c.unpack("<IQ", what)
            if gt not in (0, 1, 8):
                raise GGUFError("%s (%r): unsupported tensor type %d" % (what, name, gt))
            if gt == GGMLType.Q8_0 and dims[0] % Q8_0_BLOCK:
                raise GGUFError("%s (%r): q8_0 needs dims[0] a multiple of %d" % (what, name, Q8_0_BLOCK))
            if name in names:
                raise GGUFError("duplicate tensor name %r" % name)
            names.add(name)
            infos.append((name, GGMLType(gt), tuple(reversed(dims)), off))
        self.data_start = _align(c.pos, self.alignment)
        ranges = []
        for name, gt, shape, off in infos:
            dt = _TENSOR_NP[gt]
            nbytes = tensor_nbytes(gt, shape)
            if off % self.alignment:
                raise GGUFError("tensor %r: offset %d is not a multiple of the alignment" % (name, off))
            start = self.data_start + off
            if start % dt.itemsize:  # as the C reader: data must be aligned to its elements
                raise GGUFError("tensor %r: data at file offset %d is not aligned to its %d-byte elements"
                                % (name, start, dt.itemsize))
            if start + nbytes > len(self.buf):
                raise GGUFError("tensor %r extends past the end of the file" % name)
            arr = np.frombuffer(self.buf, dtype=dt, count=nbytes // dt.itemsize, offset=start)
            if gt == GGMLType.Q8_0:
                self.tensors[name] = GGUFTensor(name, gt, shape, off, dequantize_q8_0(arr, shape), arr.view(np.uint8))
            else:
                self.tensors[name] = GGUFTensor(name, gt, shape, off, arr.reshape(shape))
            ranges.append((off, off + nbytes, name))
        ranges.sort()
        for (_, e0, n0), (s1, _, n1) in zip(ranges, ranges[1:]):
            if s1 < e0:
                raise GGUFError("tensors %r and %r overlap" % (n0, n1))

    def _value(self, c, vt, key, what):
        try:
            vt = GGUFValueType(vt)
        except ValueError:
            raise GGUFError("%s: bad value type %d" % (what, vt)) from None
        if vt == GGUFValueType.STRING:
            return GGUFField(key, vt, c.text(what))
        if vt == GGUFValueType.ARRAY:
            et, n = c.unpack("<IQ", what)
            try:
                et = GGUFValueType(et)
            except ValueError:
                raise GGUFError("%s: bad array element type %d" % (what, et)) from None
            if et == GGUFValueType.ARRAY:
                raise GGUFError("%s: nested arrays are not supported" % what)
            if et == GGUFValueType.STRING:
                if n * 8 > len(self.buf) - c.pos:
                    raise GGUFError("%s: array count %d exceeds the file" % (what, n))
                return GGUFField(key, vt, [c.text(what) for _ in range(n)], et)
            dt = np.dtype(_SCALAR_NP[et])
            raw = c.take(n * dt.itemsize, what)
            arr = np.frombuffer(raw, dtype=dt).copy()
            if et == GGUFValueType.BOOL:
                if arr.size and arr.max() > 1:
                    raise GGUFError("%s: bool element not 0 or 1" % what)
                arr = arr.astype(bool)
            return GGUFField(key, vt, arr, et)
        (v,) = c.unpack(_SCALAR_FMT[vt] if vt != GGUFValueType.BOOL else "<B", what)
        if vt == GGUFValueType.BOOL:
            if v > 1:
                raise GGUFError("%s: bool value %d is not 0 or 1" % (what, v))
            v = bool(v)
        return GGUFField(key, vt, v)


def copy_field(writer, reader, key):
    """Adds reader's key/value `key` to writer, with its type."""
    f = reader.fields[key]
    if f.type == GGUFValueType.ARRAY:
        writer.add_array(key, f.value, f.elem_type)
    elif f.type == GGUFValueType.STRING:
        writer.add_string(key, f.value)
    else:
        writer.add_scalar(key, f.value, f.type)


def copy_fields(writer, reader, keep=lambda key: True):
    """Adds every key/value of reader for which keep(key) is true to writer, with its type, in reader's order."""
    for key in reader.fields:
        if keep(key):
            copy_field(writer, reader, key)
