"""Train a small convolutional network on scikit-learn's 8x8 digits with chainrule.

conv 1->16 (3x3, pad 1), ReLU, max-pool 2 -> conv 16->32 (3x3, pad 1), ReLU, max-pool 2 ->
linear 128->10, trained with Adam and a cosine learning-rate schedule.

    python examples/train_digits_cnn.py [--epochs 40] [--seed 0]
"""

from __future__ import annotations

import argparse

from chainrule.train import train_digits_cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    result = train_digits_cnn(epochs=args.epochs, seed=args.seed)
    print(result["model"])
    print(
        f"{result['parameters']} parameters, {result['epochs']} epochs in "
        f"{result['seconds']:.1f} s: test accuracy {result['test_accuracy']:.2%} "
        f"(train {result['train_accuracy']:.2%})"
    )


if __name__ == "__main__":
    main()
