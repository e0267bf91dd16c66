"""``chainrule serve``: the lesson's practice problem as a local web page with a grading API.

Needs the ``serve`` extra (Starlette and uvicorn): ``pip install 'chainrule[serve]'``.
Modules: ``app`` (routes, page, security headers), ``pool`` (bounded graders and queue),
``grading`` (the only caller of the sandboxed grader), ``graph`` (draws the learner's graph),
``cli`` (the command). Importing this package imports none of them.
"""
