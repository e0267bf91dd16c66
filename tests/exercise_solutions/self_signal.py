"""A worker that dies: backward() sends itself SIGSEGV. Under namespaces the worker is not
pid 1 of its namespace (which would ignore it), so it dies like anywhere else."""

import signal

# __CORRECT_VALUE_CLASS__


def _die(self):
    signal.raise_signal(signal.SIGSEGV)


Value.backward = _die
