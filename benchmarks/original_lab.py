"""The original lab's recipe as a plain script, the baseline of `make bench`.

Exactly the notebook's training: SGD lr 0.01 momentum 0.9, minibatches of 100 taken in order, 5 epochs, float32,
one model after the other; accuracy on the first 2500 training and test images, printed in the lab's format.
It loads its data with nnlab's loader so that both runs pay the same start-up and loading costs.

    python benchmarks/original_lab.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from nnlab.data import load_dataset
from nnlab.networks import build_model


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the accuracies as JSON at the end")
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.data_dir)
    x_train = torch.tensor(data.train_images, dtype=torch.float32).unsqueeze(1) / 127.5 - 1.0
    y_train = torch.tensor(data.train_labels)
    x_test = torch.tensor(data.test_images, dtype=torch.float32).unsqueeze(1) / 127.5 - 1.0
    y_test = torch.tensor(data.test_labels)
    torch.manual_seed(0)
    results = {}
    for name in ("linear", "full", "conv"):
        net = build_model(name)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        started = time.perf_counter()
        for _epoch in range(args.epochs):
            for i in range(0, len(x_train), 100):
                optimizer.zero_grad()
                loss = criterion(net(x_train[i : i + 100]), y_train[i : i + 100])
                loss.backward()
                optimizer.step()
        train_acc = accuracy(net, x_train[:2500], y_train[:2500])
        test_acc = accuracy(net, x_test[:2500], y_test[:2500])
        test_all = accuracy(net, x_test, y_test)
        print("%10s train: %.3f test: %.3f" % (name, train_acc, test_acc))  # noqa: UP031 (the lab's own line)
        results[name] = {
            "train": train_acc,
            "test": test_acc,
            "test_all": test_all,
            "fit_seconds": time.perf_counter() - started,
        }
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
