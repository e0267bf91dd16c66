"""chainrule.viz: see the computational graph.

- ``draw(root)`` returns a ``Graph`` (``.dot``, ``.svg()``, ``.save(path)``, Jupyter display).
- ``explore(root, "page.html")`` writes a self-contained page that steps through the forward
  pass and then the backward pass, one node or edge at a time.

Importing this package is cheap: Graphviz, networkx and matplotlib are imported only when a
picture is made.
"""

from chainrule.viz.explore import build_trace, explore
from chainrule.viz.graph import Graph, GraphNode, VizError, draw

__all__ = ["Graph", "GraphNode", "VizError", "build_trace", "draw", "explore"]
