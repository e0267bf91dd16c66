"""Fitting y = sin(x) with a cubic, four ways, in the style of PyTorch's "learning PyTorch
with examples": gradients by hand on tensors, autograd, nn with a manual update, and optim."""

import math

import numpy as np
import torch

dtype = torch.float
device = torch.device("cpu")
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)
rng = np.random.default_rng(0)
init = rng.standard_normal(4)

# 1. tensors, gradients by hand
a, b, c, d = (torch.tensor(v, device=device, dtype=dtype) for v in init)
learning_rate = 1e-6
for t in range(500):
    y_pred = a + b * x + c * x**2 + d * x**3
    loss = (y_pred - y).pow(2).sum().item()
    if t % 100 == 99:
        print("manual", t, f"{loss:.4f}")
    grad_y_pred = 2.0 * (y_pred - y)
    a -= learning_rate * grad_y_pred.sum()
    b -= learning_rate * (grad_y_pred * x).sum()
    c -= learning_rate * (grad_y_pred * x**2).sum()
    d -= learning_rate * (grad_y_pred * x**3).sum()
print(f"Result: y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + {d.item():.4f} x^3")

# 2. autograd
a, b, c, d = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in init)
for t in range(500):
    y_pred = a + b * x + c * x**2 + d * x**3
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print("autograd", t, f"{loss.item():.4f}")
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f"Result: y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + {d.item():.4f} x^3")

# 3. nn, with the update written by hand
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor(init[1:].reshape(1, 3), dtype=dtype))
    model[0].bias.fill_(float(init[0]))
loss_fn = torch.nn.MSELoss(reduction="sum")
for t in range(500):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print("nn", t, f"{loss.item():.4f}")
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad
linear_layer = model[0]
w = (
    linear_layer.weight[:, 0].item(),
    linear_layer.weight[:, 1].item(),
    linear_layer.weight[:, 2].item(),
)
print(
    f"Result: y = {linear_layer.bias.item():.4f} + {w[0]:.4f} x + {w[1]:.4f} x^2 + {w[2]:.4f} x^3"
)

# 4. optim (RMSprop)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor(init[1:].reshape(1, 3), dtype=dtype))
    model[0].bias.fill_(float(init[0]))
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for t in range(500):
    loss = loss_fn(model(xx), y)
    if t % 100 == 99:
        print("optim", t, f"{loss.item():.3f}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
weights = np.round(model[0].weight.detach().numpy(), 3).tolist()
print(f"Result: bias {model[0].bias.item():.3f}, weight {weights}")


# 5. a custom module with a dynamic depth chosen per call (fixed here for comparability)
class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(float(init[0])))
        self.b = torch.nn.Parameter(torch.tensor(float(init[1])))
        self.c = torch.nn.Parameter(torch.tensor(float(init[2])))
        self.d = torch.nn.Parameter(torch.tensor(float(init[3])))
        self.e = torch.nn.Parameter(torch.tensor(0.0))

    def forward(self, x, extra):
        y = self.a + self.b * x + self.c * x**2 + self.d * x**3
        for exp in range(4, 4 + extra):
            y = y + self.e * x**exp
        return y


model = DynamicNet()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
for t in range(300):
    loss = (model(x, t % 3) - y).pow(2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"dynamic: loss {loss.item():.3f}, e {model.e.item():.6f}")
