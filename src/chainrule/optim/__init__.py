"""``chainrule.optim``: SGD, Adam, AdamW, RMSprop and learning-rate schedules, with
PyTorch's names, defaults and update formulas.

>>> import chainrule as cr
>>> from chainrule import nn, optim
>>> _ = cr.manual_seed(0)
>>> model = nn.Linear(3, 1)
>>> opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> x, y = cr.randn(16, 3), cr.randn(16, 1)
>>> for _ in range(20):
...     opt.zero_grad()
...     loss = nn.functional.mse_loss(model(x), y)
...     loss.backward()
...     opt.step()
>>> bool(loss.item() < 1.5)
True
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
