"""Planted: the class is called Node, not Value."""


class Node:
    def __init__(self, data):
        self.data = data
        self.grad = 0.0


def helper(x):
    return Node(x)


LEARNING_RATE = 0.1
