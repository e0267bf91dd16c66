"""A character-level bigram model in the style of makemore part 1: counts, a Generator,
multinomial sampling, the likelihood, then the same model as a one-layer network trained
with p.data += -lr * p.grad. Lines starting with ~ depend on the random stream (not compared)."""

import itertools
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _names import WORDS

words = WORDS
print(len(words), min(len(w) for w in words), max(len(w) for w in words))

chars = sorted(list(set("".join(words))))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
V = len(stoi)

N = torch.zeros((V, V), dtype=torch.int32)
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in itertools.pairwise(chs):
        ix1 = stoi[ch1]
        ix2 = stoi[ch2]
        N[ix1, ix2] += 1
print("count a->.:", N[stoi["a"], 0].item(), "total:", N.sum().item())

p = N[0].float()
p = p / p.sum()
print("first-letter probs:", [round(v, 4) for v in p[:5].tolist()])

g = torch.Generator().manual_seed(2147483647)
ix = torch.multinomial(p, num_samples=100, replacement=True, generator=g)
print("~samples:", ix[:10].tolist())
print("samples valid:", bool((ix >= 0).all()) and bool((ix < V).all()), ix.shape)

P = (N + 1).float()
P /= P.sum(1, keepdims=True)
print("rows sum to 1:", torch.allclose(P.sum(1), torch.ones(V)))

g = torch.Generator().manual_seed(2147483647)
for _ in range(5):
    out = []
    ix = 0
    while True:
        p = P[ix]
        ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
        out.append(itos[ix])
        if ix == 0:
            break
    print("~" + "".join(out))

log_likelihood = 0.0
n = 0
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in itertools.pairwise(chs):
        prob = P[stoi[ch1], stoi[ch2]]
        logprob = torch.log(prob)
        log_likelihood += logprob
        n += 1
print(f"{log_likelihood=:.4f}".replace("tensor(", "").replace(")", ""))
nll = -log_likelihood
print(f"nll/n={nll / n:.4f}")

xs, ys = [], []
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in itertools.pairwise(chs):
        xs.append(stoi[ch1])
        ys.append(stoi[ch2])
xs = torch.tensor(xs)
ys = torch.tensor(ys)
num = xs.nelement()
print("number of examples:", num)

rng = np.random.default_rng(0)
W = torch.tensor(rng.standard_normal((V, V)), dtype=torch.float32, requires_grad=True)
W_rand = torch.randn((V, V), generator=g, requires_grad=True)
print("~random init:", W_rand[0, :3].tolist())

for k in range(30):
    xenc = F.one_hot(xs, num_classes=V).float()
    logits = xenc @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
    if k % 10 == 0:
        print(f"step {k} loss {loss.item():.4f}")
    W.grad = None
    loss.backward()
    W.data += -10 * W.grad
print(f"final loss {loss.item():.4f}")
print(
    "W is still a leaf with array data:",
    W.is_leaf,
    type(W.data).__name__ == type(W.grad.data).__name__,
)
