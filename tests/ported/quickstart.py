"""A quickstart in the style of PyTorch's: data in a DataLoader, a model on the chosen
device, a train/test loop, then saving the state dict, loading it into a fresh model with
torch.load(..., weights_only=True), and predicting class names."""

import os
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

classes = ["circle", "square", "triangle", "star"]
rng = np.random.default_rng(11)
prototypes = rng.random((4, 6, 6))
labels = rng.integers(0, 4, 400)
images = prototypes[labels] + 0.35 * rng.standard_normal((400, 6, 6))
data = TensorDataset(torch.tensor(images, dtype=torch.float32), torch.tensor(labels))
training_data, test_data = random_split(data, [320, 80], generator=torch.Generator().manual_seed(0))
print("split sizes:", len(training_data), len(test_data))
ordered_train = TensorDataset(data[:320][0], data[:320][1])
ordered_test = TensorDataset(data[320:][0], data[320:][1])

batch_size = 64
train_dataloader = DataLoader(ordered_train, batch_size=batch_size)
test_dataloader = DataLoader(ordered_test, batch_size=batch_size)
for X, y in test_dataloader:
    print(f"Shape of X [N, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(36, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 4)
        )

    def forward(self, x):
        x = self.flatten(x)
        return self.linear_relu_stack(x)


def init_(model, seed):
    r = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(r.uniform(-0.3, 0.3, tuple(p.shape)), dtype=torch.float32))


model = NeuralNetwork().to(device)
init_(model, 0)
print(model)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=5e-2)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 2 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


epochs = 3
for t in range(epochs):
    print(f"Epoch {t + 1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.pth")
    torch.save(model.state_dict(), path)
    print("Saved PyTorch Model State to model.pth")
    model = NeuralNetwork().to(device)
    model.load_state_dict(torch.load(path, weights_only=True))

model.eval()
x, y = ordered_test[0][0], ordered_test[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x.unsqueeze(0))
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
