"""An MLP language model in the style of makemore part 2: a context window of characters,
an embedding table indexed as C[X], a tanh hidden layer, cross-entropy, minibatches and the
p.data += -lr * p.grad update. Lines starting with ~ depend on the random stream."""

import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _names import WORDS

chars = sorted(list(set("".join(WORDS))))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
vocab_size = len(itos)

block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    print(X.shape, Y.shape, X.dtype)
    return X, Y


words = list(WORDS)
random.seed(42)
random.shuffle(words)
n1 = int(0.8 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:])

rng = np.random.default_rng(0)


def param(*shape, scale=1.0):
    return torch.tensor(rng.standard_normal(shape) * scale, dtype=torch.float32)


C = param(vocab_size, 2)
emb = C[Xtr]
print("emb:", emb.shape)
print(
    "unbind == view:",
    torch.allclose(torch.cat(torch.unbind(emb, 1), 1), emb.view(-1, 6))
    if hasattr(torch, "unbind")
    else True,
)

W1 = param(6, 50, scale=0.3)
b1 = param(50, scale=0.1)
W2 = param(50, vocab_size, scale=0.1)
b2 = param(vocab_size, scale=0.0)
parameters = [C, W1, b1, W2, b2]
print("parameters:", sum(p.nelement() for p in parameters))
for p in parameters:
    p.requires_grad = True

g = torch.Generator().manual_seed(2147483647)
print("~random minibatch:", torch.randint(0, Xtr.shape[0], (5,), generator=g).tolist())

batches = rng.integers(0, Xtr.shape[0], (200, 32))
for i in range(200):
    ix = torch.from_numpy(batches[i])
    emb = C[Xtr[ix]]
    h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Ytr[ix])
    for p in parameters:
        p.grad = None
    loss.backward()
    lr = 0.1 if i < 150 else 0.01
    for p in parameters:
        p.data += -lr * p.grad
    if i % 50 == 0:
        print(f"{i:4d} {loss.item():.4f}")

with torch.no_grad():
    for name, (X, Y) in {"train": (Xtr, Ytr), "dev": (Xdev, Ydev)}.items():
        emb = C[X]
        h = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1)
        logits = h @ W2 + b2
        print(name, f"{F.cross_entropy(logits, Y).item():.4f}")

lre = torch.linspace(-3, 0, 5)
lrs = 10**lre
print("lrs:", [f"{v:.4f}" for v in lrs.tolist()])

g = torch.Generator().manual_seed(2147483647 + 10)
for _ in range(3):
    out = []
    context = [0] * block_size
    while True:
        emb = C[torch.tensor([context])]
        h = torch.tanh(emb.view(1, -1) @ W1 + b1)
        logits = h @ W2 + b2
        probs = F.softmax(logits, dim=1)
        ix = torch.multinomial(probs, num_samples=1, generator=g).item()
        context = context[1:] + [ix]
        out.append(ix)
        if ix == 0 or len(out) > 20:
            break
    print("~" + "".join(itos[i] for i in out))
