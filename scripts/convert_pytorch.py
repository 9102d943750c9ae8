#!/usr/bin/env python3
"""Converts a CoDA-Net state dict saved by the authors' PyTorch trainer into a coda model file.

    python3 scripts/convert_pytorch.py model_epoch_200.pkl --experiment 9L-S-CoDA-SQ-1000 --out model.safetensors
    python3 scripts/convert_pytorch.py last_model_epoch_60.pkl --arch imagenet100-9l --temperature 1e5 --out m.safetensors

The input is what `torch.save(model.state_dict(), path)` writes (PyTorch 1.6 or later: a zip
archive holding a pickle and one file per storage); keys may carry the `module.` prefix of
DistributedDataParallel. It is read with Python's standard library alone (no PyTorch needed): the
pickle may name only an ordered dict and PyTorch's tensor-rebuilding functions and storage types,
so loading a file runs none of its code.

The architecture, norm, temperature and logit bias come from the authors' experiment name
(`9L-S-CoDA-SQ-1000`: 9 layers, S = the CIFAR-10 network cifar10-9l and L = the ImageNet-100 network
imagenet100-9l, SQ = squash or L2 = l2 norm, temperature 1000; logit bias log(0.1/0.9) as in the
authors' configurations), or from the flags, which override it. Every tensor of the chosen network
must be there, float32 and of its shape, and nothing else; otherwise one `error:` line names the
tensor and nothing is written. Exit codes: 0, 1 (bad input file), 2 (bad flags).
"""
import argparse
import collections
import io
import json
import math
import os
import pickle
import re
import struct
import sys
import tempfile
import zipfile

# (C_in, C_out, rank, kernel) of each DAU layer, as in include/coda/nn/presets.hpp.
ARCHITECTURES = {
    "cifar10-9l": [(6, 16, 32, 3), (16, 16, 32, 3), (16, 32, 64, 3), (32, 32, 64, 3), (32, 32, 64, 3),
                   (32, 64, 64, 3), (64, 64, 64, 3), (64, 64, 64, 3), (64, 10, 64, 1)],
    "imagenet100-9l": [(6, 16, 64, 7), (16, 32, 64, 3), (32, 32, 64, 3), (32, 64, 128, 3), (64, 64, 128, 3),
                       (64, 64, 128, 3), (64, 64, 256, 3), (64, 64, 256, 3), (64, 100, 256, 3)],
}
DEFAULT_LOGIT_BIAS = math.log(0.1 / 0.9)
STORAGE_TYPES = {"FloatStorage": ("F32", 4), "DoubleStorage": ("F64", 8), "HalfStorage": ("F16", 2),
                 "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4)}


class InputError(Exception):
    """A file that is not a state dict of the chosen network: exit 1."""


class UsageError(Exception):
    """Bad flags: exit 2."""


def expected_tensors(arch):
    """Name -> shape of every parameter, in the authors' state_dict order."""
    shapes = collections.OrderedDict()
    for i, (c_in, c_out, rank, k) in enumerate(ARCHITECTURES[arch]):
        j = c_in * k * k
        shapes[f"{i}.weight_mod.weighting_f.0.weight"] = [rank, c_in, k, k]
        shapes[f"{i}.weight_mod.weighting_f.1.weight"] = [c_out * j, rank, 1, 1]
        shapes[f"{i}.weight_mod.weighting_f.1.bias"] = [c_out * j]
    return shapes


def settings_of(experiment):
    """(arch, norm, temperature) of an experiment name such as 9L-S-CoDA-SQ-1000."""
    m = re.fullmatch(r"9L-([SL])-CoDA-(SQ|L2)-([0-9]+(?:\.[0-9]+)?)", experiment)
    if not m:
        raise UsageError(f"--experiment '{experiment}' is not a name like 9L-S-CoDA-SQ-1000 or 9L-L-CoDA-SQ-100000")
    return ({"S": "cifar10-9l", "L": "imagenet100-9l"}[m[1]], {"SQ": "squash", "L2": "l2"}[m[2]], float(m[3]))


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, list(size), list(stride)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a torch.save'd state dict without PyTorch, allowing nothing else."""

    def __init__(self, data, archive, prefix):
        super().__init__(data)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_TYPES:
            return name
        raise InputError(f"the pickle refers to {module}.{name}, which a state dict of tensors does not hold")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and pid[1] in STORAGE_TYPES):
            raise InputError(f"unsupported storage reference {pid!r}")
        _, kind, key, _, numel = pid
        dtype, width = STORAGE_TYPES[kind]
        try:
            data = self.archive.read(f"{self.prefix}data/{key}")
        except KeyError:
            raise InputError(f"storage {key} is missing from the archive") from None
        if len(data) != numel * width:
            raise InputError(f"storage {key} holds {len(data)} bytes, {numel} x {width} expected")
        return (dtype, width, data)


def read_state_dict(path):
    """Name -> (dtype, shape, little-endian bytes) of a torch.save'd state dict."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise InputError(f"not a PyTorch file of version 1.6 or later (a zip archive): {e}") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise InputError("the archive holds no <name>/data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        try:
            loaded = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:  # a damaged pickle
            raise InputError(f"the pickle cannot be read: {e}") from None
    if not isinstance(loaded, dict):
        raise InputError("the file holds no state dict (a mapping of names to tensors)")
    tensors = collections.OrderedDict()
    for name, t in loaded.items():
        if not isinstance(t, _Tensor):
            raise InputError(f"entry '{name}' is not a tensor")
        dtype, width, data = t.storage
        count = math.prod(t.size)
        contiguous = [math.prod(t.size[i + 1:]) for i in range(len(t.size))]
        if count and t.stride != contiguous:
            raise InputError(f"tensor '{name}' is not contiguous (stride {t.stride})")
        begin = t.offset * width
        if begin + count * width > len(data):
            raise InputError(f"tensor '{name}' reaches past its storage")
        key = name[len("module."):] if name.startswith("module.") else name
        tensors[key] = (dtype, t.size, data[begin:begin + count * width])
    return tensors


def check_against(tensors, arch):
    expected = expected_tensors(arch)
    for name, shape in expected.items():
        if name not in tensors:
            raise InputError(f"tensor '{name}' of {arch} is missing")
        dtype, got, _ = tensors[name]
        if got != shape:
            raise InputError(f"tensor '{name}' has shape {got}, {arch} needs {shape}")
        if dtype != "F32":
            raise InputError(f"tensor '{name}' is {dtype}, float32 (F32) is needed")
    for name in tensors:
        if name not in expected:
            raise InputError(f"tensor '{name}' is not a parameter of {arch}")
    for name in expected:
        values = struct.unpack(f"<{len(tensors[name][2]) // 4}f", tensors[name][2])
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"tensor '{name}' holds a value that is not finite")
    return expected


def write_model(path, tensors, names, metadata):
    """A safetensors file (docs/file-format.md), written to a temporary file and renamed."""
    header, offset = {"__metadata__": metadata}, 0
    for name in names:
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            for name in names:
                f.write(tensors[name][2])
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state_dict", help="the .pkl file torch.save wrote")
    ap.add_argument("--out", required=True, help="the coda model file to write (.safetensors)")
    ap.add_argument("--experiment", help="the authors' experiment name, e.g. 9L-S-CoDA-SQ-1000")
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), help="overrides the experiment's architecture")
    ap.add_argument("--norm", choices=["squash", "l2"], help="overrides the experiment's norm")
    ap.add_argument("--temperature", type=float, help="overrides the experiment's temperature")
    ap.add_argument("--logit-bias", type=float, help=f"default log(0.1/0.9) = {DEFAULT_LOGIT_BIAS:.6f}")
    args = ap.parse_args(argv)
    try:
        arch, norm, temperature = settings_of(args.experiment) if args.experiment else (None, "squash", None)
        arch = args.arch or arch
        norm = args.norm or norm
        temperature = args.temperature if args.temperature is not None else temperature
        if arch is None or temperature is None:
            raise UsageError("give --experiment, or --arch and --temperature")
        if not (temperature > 0 and math.isfinite(temperature)):
            raise UsageError("--temperature must be a positive number")
        bias = DEFAULT_LOGIT_BIAS if args.logit_bias is None else args.logit_bias
        if not math.isfinite(bias):
            raise UsageError("--logit-bias must be finite")
        tensors = read_state_dict(args.state_dict)
        names = check_against(tensors, arch)
        write_model(args.out, tensors, names, {"format": "coda", "arch": arch, "norm": norm,
                                               "temperature": repr(temperature), "logit_bias": repr(bias)})
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except InputError as e:
        print(f"error: {args.state_dict}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {arch}, {norm} norm, temperature {temperature:g}, logit bias {bias:.6f}, "
          f"{len(names)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
