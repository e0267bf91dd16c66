"""Building a network in the style of PyTorch's "build the model" tutorial: an nn.Module
subclass, device placement, softmax predictions and a look at the parameters."""

import numpy as np
import torch
from torch import nn

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 32),
            nn.ReLU(),
            nn.Linear(32, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
rng = np.random.default_rng(1)
with torch.no_grad():
    for param in model.parameters():
        param.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(param.shape)).astype(np.float32)))
print(model.linear_relu_stack[0])

X = torch.tensor(rng.random((3, 8, 8)), dtype=torch.float32, device=device)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print(f"Predicted class: {y_pred.tolist()}")
print("probabilities:", np.round(pred_probab.detach().numpy()[0], 4).tolist())

input_image = torch.tensor(rng.random((3, 8, 8)), dtype=torch.float32)
flat_image = nn.Flatten()(input_image)
print("flattened:", flat_image.size())
layer1 = nn.Linear(in_features=64, out_features=20)
hidden1 = layer1(flat_image)
print("hidden:", hidden1.size())
hidden1 = nn.ReLU()(hidden1)
print("relu nonnegative:", bool((hidden1 >= 0).all()))

total = 0
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()} | grad: {param.requires_grad}")
    total += param.numel()
print("parameters:", total, sum(p.nelement() for p in model.parameters()))
print("state_dict keys:", list(model.state_dict().keys()))
