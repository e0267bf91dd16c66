"""Planted: a syntax error on line 6."""


class Value:
    def __init__(self, data):
        self.data = data +
        self.grad = 0.0
