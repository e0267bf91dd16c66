"""Every op, defined once: its primitive, forward, VJP and JVP side by side, what it saves,
its batching rule, and its public function (see ``_primitive``).

The modules form layers; each imports only those listed before it (``make lint`` checks this
with the import-linter contracts in ``pyproject.toml``):

- ``_primitive``: ``Primitive``, ``bind`` (eager run and tape record, or transform dispatch),
  ``public`` (the declaration of a public function) and the ``EXPORTS`` list;
- the families: ``shape`` (also ``to`` and the shared batching helpers), ``elementwise``,
  ``reduce``, ``linalg`` (matmul and the dense layer), ``nn`` (softmax), ``conv``, ``pool``,
  ``loss`` (the fused cross-entropy and its backward primitive);
- ``inplace``: in-place ops and the view/version surgery they need;
- ``api``: the public namespace, generated from ``EXPORTS``: it attaches the Tensor methods and
  operators and lists what ``chainrule`` and ``chainrule.nn.functional`` export.
"""
