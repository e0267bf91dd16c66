"""chainrule.scalar: the lesson's scalar autodiff engine, micrograd-compatible.

>>> from chainrule.scalar import Value
>>> x = Value(2.0)
>>> y = x * x + 2 * x
>>> y.backward()
>>> x.grad            # d/dx (x*x + 2*x) = 2*x + 2
6.0
"""

from chainrule.scalar.engine import ScalarZeroDivisionError, Value, topological_sort

__all__ = ["ScalarZeroDivisionError", "Value", "topological_sort"]
