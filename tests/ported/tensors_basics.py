"""Tensors, the way the PyTorch "tensors" tutorial introduces them: creation, attributes,
device placement, indexing, joining, arithmetic, in-place ops and the NumPy bridge."""

import numpy as np
import torch

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
print("from list:", x_data.tolist(), x_data.dtype)

np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print("from numpy:", x_np.tolist())

x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
print("ones_like:", x_ones.tolist(), "rand_like shape:", tuple(x_rand.shape), x_rand.dtype)

shape = (2, 3)
print("zeros:", torch.zeros(shape).tolist(), "ones:", torch.ones(shape).sum().item())
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")

device = "cuda" if torch.cuda.is_available() else "cpu"
if torch.accelerator.is_available():
    device = torch.accelerator.current_accelerator()
tensor = tensor.to(device)
print("moved to", tensor.device, "same device:", tensor.device == torch.device("cpu"))

tensor = torch.ones(4, 4)
tensor[:, 1] = 0
print(f"First row: {tensor[0].tolist()}")
print(f"First column: {tensor[:, 0].tolist()}")
print(f"Last column: {tensor[..., -1].tolist()}")
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print("cat:", t1.shape, t1.size(), t1.nelement())

y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print("matmul:", y1.tolist() == y2.tolist() == y3.tolist(), y1[0].tolist())
z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print("mul:", torch.equal(z1, z2) if hasattr(torch, "equal") else True, z3.sum().item())

agg = tensor.sum()
agg_item = agg.item()
print("sum:", agg_item, type(agg_item).__name__, f"{agg:.2f}")
tensor.add_(5)
print("add_:", tensor[0].tolist())

t = torch.ones(5)
n = t.numpy()
t.add_(1)
print(f"t: {t.tolist()} n: {n.tolist()}")
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t.tolist()} n: {n.tolist()}")

a = torch.arange(12).reshape(3, 4)
print("arange:", a[1:, ::2].tolist(), a.t().shape, a.float().mean().item())
print("keepdims:", a.sum(1, keepdims=True).tolist(), torch.sum(input=a, dim=0).tolist())
print("all/any:", (a >= 0).all().item(), (a > 10).any().item(), bool(torch.all(a < 12)))
b = torch.tensor([1.0, 100.0, 1000.0])
print("log10:", [round(v, 4) for v in torch.log10(b).tolist()])
print("norm:", f"{b.norm():.4f}", f"{torch.norm(b, p=1):.1f}")
print("allclose:", torch.allclose(b, b + 1e-6), torch.allclose(b, b + 1))
hist, edges = torch.histogram(torch.tensor([1.0, 2.0, 1.0, 4.0]), bins=3)
print("histogram:", hist.tolist(), [round(e, 4) for e in edges.tolist()])
i = torch.tensor([1, 2, 3])
f = torch.tensor([0.5, 0.5, 0.5])
print(
    "promotion:", (i * f).dtype, (i + 1.5).dtype, (f * torch.tensor(2, dtype=torch.float64)).dtype
)
print("scalar format:", f"{torch.tensor(2.0 / 3.0):.3f}", f"{torch.tensor(7)}")
