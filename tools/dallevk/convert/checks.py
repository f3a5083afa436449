"""Matching a checkpoint's tensors against the table of what a converter expects."""
from . import ConvertError


def _shape(s):
    return "[%s]" % ", ".join(str(int(d)) for d in s)


def match_tensors(path, found, expected, what, ignore=()):
    """found: name -> tensor (with .shape); expected: [(name, shape)]. Every expected name must be
    present with exactly its shape, and every found name must be expected or start with a prefix in
    ignore; otherwise ConvertError naming path, the key and the expected shape."""
    for name, shape in expected:
        t = found.get(name)
        if t is None:
            raise ConvertError("%s: %s: missing tensor '%s' (expected shape %s)" % (path, what, name, _shape(shape)))
        if tuple(t.shape) != tuple(shape):
            raise ConvertError("%s: %s: tensor '%s' has shape %s, expected %s"
                               % (path, what, name, _shape(t.shape), _shape(shape)))
    known = {n for n, _ in expected}
    extra = [n for n in found if n not in known and not any(n.startswith(p) for p in ignore)]
    if extra:
        raise ConvertError("%s: %s: unexpected tensor '%s' (shape %s)%s; not the layout this converter knows"
                           % (path, what, extra[0], _shape(found[extra[0]].shape),
                              " and %d more" % (len(extra) - 1) if len(extra) > 1 else ""))


def require(path, found, name, ndim, what, hint):
    """The tensor name (with ndim dims) that hyperparameters are read from; ConvertError naming it and
    hint (the expected shape in words) when missing or of another rank."""
    t = found.get(name)
    if t is None or len(t.shape) != ndim:
        got = "missing" if t is None else "has shape %s" % _shape(t.shape)
        raise ConvertError("%s: %s: tensor '%s' %s (expected %s)" % (path, what, name, got, hint))
    return t.shape
