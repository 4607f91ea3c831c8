"""The linear-classifier baseline of the MNIST benchmark (docs/training.md, "MNIST"): softmax
regression on the raw pixels / 255, trained with full-batch gradient descent plus L2, on the
same IDX files as examples/train/mnist.syl. Prints the test accuracy.

usage: python3 tests/bench/mnist_linear.py [DIR]   (default ../shared/datasets/mnist)
"""
import gzip
import struct
import sys

import numpy as np


def idx(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/mnist"
    x = idx(f"{root}/train-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    y = idx(f"{root}/train-labels-idx1-ubyte.gz")
    xt = idx(f"{root}/t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    yt = idx(f"{root}/t10k-labels-idx1-ubyte.gz")
    w, b = np.zeros((784, 10)), np.zeros(10)
    onehot = np.eye(10)[y]
    best = 0.0
    for step in range(1, 2001):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / len(x)
        w -= 0.5 * (x.T @ g + 1e-4 * w)
        b -= 0.5 * g.sum(axis=0)
        if step % 250 == 0:
            accuracy = float(((xt @ w + b).argmax(axis=1) == yt).mean())
            best = max(best, accuracy)
            print(f"step {step}: test accuracy {accuracy:.4f}")
    print(f"linear classifier: best test accuracy {best:.4f} ({len(x)} train, {len(xt)} test)")


main()
