#!/usr/bin/env python3
"""Writes a coda model file's tensors as the authors' trainer saves a state dict
(`torch.save(model.state_dict(), "model_epoch_N.pkl")` under DistributedDataParallel: keys prefixed
`module.`), with the standard library alone: the zip layout and the pickle of PyTorch 1.6 and later,
with stand-ins for the PyTorch names the pickle refers to. With --torch, PyTorch itself writes it.

    python3 write_authors_pkl.py MODEL.safetensors OUT.pkl [--torch] [--reshape NAME]

--reshape NAME writes tensor NAME flattened to one dimension (a state dict of the wrong shape).
"""
import argparse
import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = collections.OrderedDict()
    for name, e in header.items():
        if name != "__metadata__":
            b, end = e["data_offsets"]
            out[name] = (e["shape"], data[b:end])
    return out


def write_with_torch(tensors, out):
    import torch
    sd = collections.OrderedDict()
    for name, (shape, data) in tensors.items():
        sd["module." + name] = torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape).clone()
    torch.save(sd, out)


def write_without_torch(tensors, out):
    # Stand-ins that pickle under PyTorch's names (pickle looks them up in sys.modules).
    torch_module, utils_module = types.ModuleType("torch"), types.ModuleType("torch._utils")
    FloatStorage = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("only for pickling")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch_module.FloatStorage, utils_module._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch_module, utils_module

    class Storage:
        def __init__(self, key, count):
            self.key, self.count = key, count

    class Tensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce__(self):
            strides = [1] * len(self.shape)
            for i in range(len(self.shape) - 2, -1, -1):
                strides[i] = strides[i + 1] * self.shape[i + 1]
            return _rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), tuple(strides), False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.count)
            return None

    try:
        sd = collections.OrderedDict()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for i, (name, (shape, data)) in enumerate(tensors.items()):
                z.writestr(f"archive/data/{i}", data)
                sd["module." + name] = Tensor(Storage(str(i), len(data) // 4), shape)
            buffer = io.BytesIO()
            Pickler(buffer, protocol=2).dump(sd)
            z.writestr("archive/data.pkl", buffer.getvalue())
            z.writestr("archive/version", "3\n")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--reshape")
    a = ap.parse_args()
    tensors = read_safetensors(a.model)
    if a.reshape:
        shape, data = tensors[a.reshape]
        tensors[a.reshape] = ([len(data) // 4], data)
    (write_with_torch if a.torch else write_without_torch)(tensors, a.out)


if __name__ == "__main__":
    main()
