"""LeNet in the style of PyTorch's "neural networks" tutorial: conv/pool/linear layers, a
forward pass on a 32x32 image, an MSE loss, backward and a few SGD steps."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, input):
        c1 = F.relu(self.conv1(input))
        s2 = F.max_pool2d(c1, (2, 2))
        c3 = F.relu(self.conv2(s2))
        s4 = F.max_pool2d(c3, 2)
        s4 = torch.flatten(s4, 1)
        f5 = F.relu(self.fc1(s4))
        f6 = F.relu(self.fc2(f5))
        output = self.fc3(f6)
        return output


net = Net()
print(net.conv1)
rng = np.random.default_rng(0)
with torch.no_grad():
    for p in net.parameters():
        fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else p.shape[0]
        bound = 1.0 / np.sqrt(fan_in)
        p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))

params = list(net.parameters())
print(len(params))
print(params[0].size())

input = torch.tensor(rng.standard_normal((1, 1, 32, 32)), dtype=torch.float32)
out = net(input)
print("out:", np.round(out.detach().numpy(), 5).tolist())

net.zero_grad()
out.backward(torch.tensor(rng.standard_normal((1, 10)), dtype=torch.float32))

output = net(input)
target = torch.tensor(rng.standard_normal(10), dtype=torch.float32)
target = target.view(1, -1)
criterion = nn.MSELoss()
loss = criterion(output, target)
print(f"loss {loss.item():.6f}")
print("grad_fn chain:", loss.grad_fn is not None)

net.zero_grad()
print("conv1.bias.grad before backward", net.conv1.bias.grad)
loss.backward()
print("conv1.bias.grad after backward", np.round(net.conv1.bias.grad.numpy(), 6).tolist())

learning_rate = 0.01
for f in net.parameters():
    f.data -= f.grad.data * learning_rate  # (.data is the NumPy array: no .sub_)
print(f"loss after manual step {criterion(net(input), target).item():.6f}")

optimizer = optim.SGD(net.parameters(), lr=0.01)
for step in range(5):
    optimizer.zero_grad()
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()
    print(f"step {step} loss {loss.item():.6f}")
