"""The ported scripts are programs run by ``tests/test_ported.py`` in subprocesses (as
``import torch`` and rewritten to chainrule), never imported or collected by pytest here."""

collect_ignore_glob = ["*.py"]
