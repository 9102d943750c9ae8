#!/usr/bin/env python3
"""Throughput of the PyTorch reference model (torch_coda.py, see --reference) of cifar10-9l, for
comparison with `coda-cifar10 bench` on the same machine and thread count.

    /usr/bin/python3 benchmarks/torch_reference.py --reference DIR
        [--batch 64] [--threads 2] [--fused 0|1] [--device cpu|cuda]

Prints the same three lines as `coda-cifar10 bench` (inference, train = forward + backward + Adam
step, explain) plus `explain-one-class`: the reference explains one class per backward pass, so
`explain` (all 10 classes) is measured as 10 one-class passes. Needs Debian's python3-torch; it is
a benchmark, not a test, and nothing in the test suite uses it.
"""
import argparse
import math
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(fn, images, device):
    """Images per second of one call of fn on a full batch, after a 2-image warm-up."""
    import torch
    fn(images[:2])
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn(images)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True,
                    help="folder holding torch_coda.py, an independent PyTorch model of CoDA-Nets that reads and writes safetensors (kept outside this repository)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fused", type=int, default=0, help="DAUConv.fused: 0 = authors' algorithm, 1 = low-rank rewrite")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    import torch
    import torch.nn.functional as F
    import torch_coda as tc

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tc.DAUConv.fused = bool(args.fused)
    net = tc.cifar_9l(1000.0).to(args.device)
    images = torch.rand(args.batch, 3, 32, 32, device=args.device)
    labels = torch.arange(args.batch, device=args.device) % 10
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-4)

    def infer(x):
        with torch.no_grad():
            net(tc.add_inverse(x))

    def train(x):
        opt.zero_grad()
        target = F.one_hot(labels[:len(x)], 10).float()
        F.binary_cross_entropy_with_logits(net(tc.add_inverse(x)), target).backward()
        opt.step()

    def explain_one(x):
        net.explain(tc.add_inverse(x), 3)

    print(f"torch {torch.__version__}, cifar10-9l, batch {args.batch}, {args.threads} threads, "
          f"DAUConv.fused={bool(args.fused)}, device {args.device}")
    inference = timed(infer, images, args.device)
    training = timed(train, images, args.device)
    one = timed(explain_one, images, args.device)
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"inference: {inference:.2f} img/s")
    print(f"train: {training:.2f} img/s")
    print(f"explain: {one / 10:.3f} img/s")
    print(f"explain-one-class: {one:.2f} img/s")


if __name__ == "__main__":
    main()
