"""Automatic differentiation in the style of PyTorch's autograd tutorial: a one-layer
logistic model, gradients, no_grad/detach, vector-Jacobian products and accumulation."""

import numpy as np
import torch

rng = np.random.default_rng(0)
x = torch.ones(5)
y = torch.zeros(3)
w = torch.tensor(rng.standard_normal((5, 3)), dtype=torch.float32, requires_grad=True)
b = torch.tensor(rng.standard_normal(3), dtype=torch.float32, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print("loss:", f"{loss.item():.5f}")
print("grad_fn set:", z.grad_fn is not None, loss.grad_fn is not None)

loss.backward()
print("w.grad:", np.round(w.grad.numpy(), 5).tolist())
print("b.grad:", np.round(b.grad.numpy(), 5).tolist())

z = torch.matmul(x, w) + b
print("requires_grad:", z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print("under no_grad:", z.requires_grad)
z_det = (torch.matmul(x, w) + b).detach()
print("detached:", z_det.requires_grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print("First call", inp.grad.tolist()[0])
out.backward(torch.ones_like(out), retain_graph=True)
print("Second call", inp.grad.tolist()[0])
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print("Call after zeroing gradients", inp.grad.tolist()[0])

a = torch.tensor([2.0, 3.0], requires_grad=True)
c = torch.tensor([6.0, 4.0], requires_grad=True)
q = 3 * a**3 - c**2
q.backward(gradient=torch.tensor([1.0, 1.0]))
print("dQ/da:", a.grad.tolist(), "== 9a^2:", (9 * a**2 == a.grad).tolist())
print("dQ/dc:", c.grad.tolist(), "== -2c:", (-2 * c == c.grad).tolist())

s = torch.tensor(1.5, requires_grad=True)
t = torch.sin(s) * torch.exp(s)
(g,) = torch.autograd.grad(t, s, create_graph=True)
(h,) = torch.autograd.grad(g, s)
print(f"first derivative {g.item():.6f}, second {h.item():.6f}")

p = torch.tensor([1.0, -2.0], requires_grad=True)
print("p.data is the storage:", p.data.sum().item())
try:
    p.grad = 0.0
except TypeError:
    print("assigning a float to .grad: TypeError")
