"""Train a multilayer perceptron on scikit-learn's 8x8 digits with chainrule, then save it,
load it back and check that the reloaded model scores the same.

    python examples/train_digits_mlp.py [--epochs 40] [--seed 0] [--save digits_mlp.npz]
"""

from __future__ import annotations

import argparse

from chainrule.data import load_digits, train_test_split
from chainrule.io import load, save
from chainrule.train import digits_mlp, evaluate, train_digits_mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write the trained weights to this .npz")
    args = parser.parse_args()

    result = train_digits_mlp(epochs=args.epochs, seed=args.seed)
    model = result["model"]
    print(model)
    print(
        f"{result['parameters']} parameters, {result['epochs']} epochs in "
        f"{result['seconds']:.1f} s: test accuracy {result['test_accuracy']:.2%} "
        f"(train {result['train_accuracy']:.2%})"
    )
    if args.save:
        save(model.state_dict(), args.save)
        restored = digits_mlp()
        restored.load_state_dict(load(args.save))
        X, y = load_digits()
        _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, seed=args.seed)
        acc, _ = evaluate(restored, X_test, y_test)
        print(f"saved to {args.save}; reloaded model's test accuracy {acc:.2%}")


if __name__ == "__main__":
    main()
