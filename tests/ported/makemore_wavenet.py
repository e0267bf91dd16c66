"""A hierarchical (WaveNet-like) character model in the style of makemore part 5: layer
classes of our own (Embedding, FlattenConsecutive, Linear, BatchNorm1d over 3-d input, Tanh,
Sequential), trained a few steps, then put in eval mode."""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _names import WORDS

chars = sorted(set("".join(WORDS)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
vocab_size = len(stoi)
block_size = 8
X, Y = [], []
for w in WORDS:
    context = [0] * block_size
    for ch in w + ".":
        X.append(context)
        Y.append(stoi[ch])
        context = context[1:] + [stoi[ch]]
Xtr, Ytr = torch.tensor(X), torch.tensor(Y)
print(Xtr.shape, Ytr.shape)

rng = np.random.default_rng(5)


def randn(*shape):
    return torch.tensor(rng.standard_normal(shape), dtype=torch.float32)


class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = randn(fan_in, fan_out) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        if self.training:
            dim = 0 if x.ndim == 2 else (0, 1)
            xmean = x.mean(dim, keepdim=True)
            xvar = x.var(dim, keepdim=True)
        else:
            xmean, xvar = self.running_mean, self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


class Embedding:
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = randn(num_embeddings, embedding_dim)

    def __call__(self, IX):
        self.out = self.weight[IX]
        return self.out

    def parameters(self):
        return [self.weight]


class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        self.out = x
        return self.out

    def parameters(self):
        return []


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


n_embd, n_hidden = 8, 32
H = n_hidden
model = Sequential([
    Embedding(vocab_size, n_embd),
    FlattenConsecutive(2), Linear(n_embd * 2, H, bias=False), BatchNorm1d(H), Tanh(),
    FlattenConsecutive(2), Linear(H * 2, H, bias=False), BatchNorm1d(H), Tanh(),
    FlattenConsecutive(2), Linear(H * 2, H, bias=False), BatchNorm1d(H), Tanh(),
    Linear(H, vocab_size),
])  # fmt: skip
with torch.no_grad():
    model.layers[-1].weight *= 0.1
parameters = model.parameters()
print("parameters:", sum(p.nelement() for p in parameters))
for p in parameters:
    p.requires_grad = True

x = Xtr[:4]
for layer in model.layers:
    x = layer(x)
    print(f"{layer.__class__.__name__:20s}: {tuple(layer.out.shape)}")

batches = rng.integers(0, Xtr.shape[0], (60, 32))
lossi = []
for i in range(60):
    ix = torch.from_numpy(batches[i])
    logits = model(Xtr[ix])
    loss = F.cross_entropy(logits, Ytr[ix])
    for p in parameters:
        p.grad = None
    loss.backward()
    for p in parameters:
        p.data += -0.1 * p.grad
    lossi.append(loss.log10().item())
    if i % 20 == 0:
        print(f"{i:7d}: {loss.item():.4f}")
print(
    "mean log10 loss per 20 steps:",
    [round(v, 4) for v in torch.tensor(lossi).view(-1, 20).mean(1).tolist()],
)

for layer in model.layers:
    layer.training = False
with torch.no_grad():
    print(f"eval loss: {F.cross_entropy(model(Xtr), Ytr).item():.4f}")
