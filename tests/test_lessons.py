"""The lessons: each runs in quick mode and its claims hold, checked from result.json and the
figures it wrote; the ``lesson`` and ``tour`` commands exit with the right codes and write
their files; lessons use only chainrule's public API.

The whole tour (quick) runs once per module and the per-lesson tests read its output, so
every lesson runs exactly once here.
"""

from __future__ import annotations

import ast
import json
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")  # the digits (zero-grad, reparameterization, the tour)

from chainrule.cli import main
from chainrule.lessons import Result, load, names


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """Run ``chainrule tour --quick`` once: (output folder, exit code, stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("tour")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["tour", "--quick", "--out", str(out)])
    return out, code, buf.getvalue()


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails if the file is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_tour_exits_0_and_prints_the_page(tour):
    out, code, stdout = tour
    assert code == 0
    assert stdout.strip().splitlines()[-1] == f"the tour's page: {(out / 'index.html').resolve()}"
    assert "337 parameters" in stdout  # part 1 still trains the scalar MLP
    assert "MLP: test accuracy" in stdout and "CNN: test accuracy" in stdout


@pytest.mark.parametrize("name", names())
def test_lesson_result_json_claims_and_figures(tour, name):
    out = tour[0] / name
    data = json.loads((out / "result.json").read_text())
    assert set(data) == {"lesson", "claims", "figures"}
    assert data["lesson"] == name
    assert len(data["claims"]) >= 2
    for claim in data["claims"]:
        assert set(claim) == {"claim", "holds", "measured"}
        assert isinstance(claim["claim"], str) and len(claim["claim"]) > 20
        assert claim["holds"] is True, f"{name}: {claim['claim']} -> {claim['measured']}"
        assert isinstance(claim["measured"], dict) and claim["measured"]
    assert data["figures"], f"{name} drew no figure"
    import matplotlib.image

    for fig in data["figures"]:
        path = out / fig
        width, height = _png_size(path)
        if fig == "neuron_graph.png":  # drawn by chainrule.viz (graphviz), when installed
            assert width >= 100 and height >= 50
            continue
        assert width >= 500 and height >= 300, (fig, width, height)
        pixels = matplotlib.image.imread(path)[..., :3]
        assert pixels.std() > 0.05, f"{fig} looks blank"  # something is drawn on it


def _measured(tour_dir: Path, name: str, index: int) -> dict:
    return json.loads((tour_dir / name / "result.json").read_text())["claims"][index]["measured"]


def test_lesson_numbers(tour):
    """The numbers behind the claims, checked here independently of the lessons' own flags."""
    d = tour[0]
    assert _measured(d, "chain-rule", 0)["max_abs_difference"] < 1e-12
    assert abs(_measured(d, "gradient-descent", 2)["measured_threshold"] - 0.2) < 0.004
    v = _measured(d, "vanishing", 2)
    assert v["sigmoid_ratio"] < 1e-20 < v["residual_ratio"]
    assert _measured(d, "vanishing", 3)["largest_gradient_in_a_dead_row"] == 0.0
    assert _measured(d, "zero-grad", 2)["max_abs_difference"] < 1e-12
    error = _measured(d, "nan-hunt", 0)["error"]
    assert "LogBackward0" in error and "nan_hunt.py" in error and "p.log()" in error
    assert _measured(d, "nan-hunt", 1)["first_non_finite"] == "p"
    assert "version 0" in _measured(d, "in-place", 0)["error"]
    passes = _measured(d, "forward-vs-reverse", 1)["passes"]
    assert sorted(p["forward"] for p in passes.values()) == [10, 2000]
    h = _measured(d, "hvp", 1)
    assert h["hessian_memory_slope"] > h["hvp_memory_slope"] + 0.5
    assert _measured(d, "hvp", 0)["max_abs_difference"] < 1e-10
    ratios = _measured(d, "reparameterization", 1)["variance_ratio_score_over_reparam"]
    assert min(ratios.values()) > 3
    mem = _measured(d, "memory", 1)["training_over_inference"]
    assert mem == sorted(mem) and mem[-1] > 2.5
    assert _measured(d, "micrograd", 0)["accuracy"] >= 0.95
    assert _measured(d, "micrograd", 2)["x_grad"] == 3.0


def test_index_links_every_figure_and_claim(tour):
    import html

    out = tour[0]
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in names():
        data = json.loads((out / name / "result.json").read_text())
        assert f"id='{name}'" in page
        for fig in data["figures"]:
            assert f"src='{name}/{fig}'" in page
            assert (out / name / fig).is_file()
        for claim in data["claims"]:
            assert html.escape(claim["claim"]) in page
    for explorer in out.glob("*/*.html"):  # written when chainrule.viz is installed
        assert f"{explorer.parent.name}/{explorer.name}" in page


def test_lesson_command_lists_every_lesson(capsys):
    assert main(["lesson"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out


def test_lesson_command_runs_one(tmp_path, capsys):
    assert main(["lesson", "in-place", "--out", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out
    assert str(tmp_path / "in_place.png") in out
    assert json.loads((tmp_path / "result.json").read_text())["lesson"] == "in-place"


def test_lesson_command_exits_1_when_a_claim_fails(tmp_path, capsys, monkeypatch):
    def failing(out_dir, quick=False):
        result = Result("in-place", Path(out_dir))
        result.out_dir.mkdir(parents=True, exist_ok=True)
        result.claim("something that was not measured to hold", False, value=1.0)
        result.write()
        return result

    monkeypatch.setattr(load("in-place"), "run", failing)
    assert main(["lesson", "in-place", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "✗ something that was not measured to hold" in captured.out
    assert "did not hold" in captured.err
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["claims"][0]["holds"] is False  # reported, not hidden


def test_usage_errors_and_help(capsys):
    assert main(["lesson", "no-such-lesson"]) == 2
    assert "unknown lesson" in capsys.readouterr().err
    for argv in (["lesson", "--help"], ["tour", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(["tour", "--lessons", "nope"])
    assert exc.value.code == 2


def test_result_json_is_strict():
    """NaN and inf are not JSON: measured values keep them as strings."""
    r = Result("x", Path("."))
    r.claim("c", True, a=float("nan"), b=np.float64(2.5), c=np.arange(3), d={"e": np.inf})
    assert r.claims[0].measured == {"a": "nan", "b": 2.5, "c": [0, 1, 2], "d": {"e": "inf"}}
    json.dumps(r.to_json(), allow_nan=False)


ALLOWED_CHAINRULE = {
    "chainrule",
    "chainrule.scalar",
    "chainrule.scalar.nn",
    "chainrule.lessons._common",
}


@pytest.mark.parametrize("name", names())
def test_lessons_use_only_the_public_api(name):
    """Lessons are examples of using chainrule: no internals (ops, tensor, _backend, ...)."""
    module = load(name)
    tree = ast.parse(Path(module.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
            if node.module == "chainrule":
                assert {a.name for a in node.names} <= {"viz"}, ast.dump(node)
        else:
            continue
        for mod in mods:
            if mod.startswith("chainrule"):
                assert mod in ALLOWED_CHAINRULE, f"{name} imports {mod}"
    assert module.__doc__ and len(module.__doc__.split("\n\n")) >= 3  # a literate docstring


def test_micrograd_without_viz_skips_the_graph_and_says_so(tmp_path, monkeypatch):
    import sys

    import chainrule

    monkeypatch.delattr(chainrule, "viz", raising=False)
    monkeypatch.setitem(sys.modules, "chainrule.viz", None)  # import chainrule.viz fails
    result = load("micrograd").run(tmp_path, quick=True)
    graph = result.claims[-1].measured
    assert graph["graph_files"] == [] and graph["note"].startswith("skipped")
    assert result.figures == ["moons.png"]
    assert result.ok


def test_viz_graph_and_explorer_are_written_and_linked(tmp_path, monkeypatch):
    """With a cr.viz (a stand-in here, with DESIGN.md's API) the neuron's graph and explorer
    page are written, and the tour's page links the explorer."""
    import sys
    import types

    import chainrule
    from chainrule.lessons.micrograd import _try_viz
    from chainrule.lessons.page import write_index
    from chainrule.scalar import Value

    calls = []

    class Graph:
        def __init__(self, root):
            self.root = root

        def save(self, path):
            calls.append(("save", path))
            Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")

    def explore(root, path):
        calls.append(("explore", path))
        Path(path).write_text("<html></html>")

    fake = types.ModuleType("chainrule.viz")
    fake.draw, fake.explore = Graph, explore
    monkeypatch.setitem(sys.modules, "chainrule.viz", fake)
    monkeypatch.setattr(chainrule, "viz", fake, raising=False)
    out = tmp_path / "micrograd"
    out.mkdir()
    files, note = _try_viz(Value(2.0) * Value(3.0), out)
    assert files == ["neuron_graph.png", "neuron_explorer.html"]
    assert note == "drawn with chainrule.viz"
    result = Result("micrograd", out, figures=["neuron_graph.png"])
    result.claim("a claim", True, x=1)
    page = write_index(tmp_path, [result], {"micrograd": "summary"}, [], 1.0).read_text()
    assert "href='micrograd/neuron_explorer.html'" in page

    def broken(root):
        raise RuntimeError("graphviz's dot is not installed")

    fake.draw = broken
    files, note = _try_viz(Value(1.0), out)
    assert files == ["neuron_explorer.html"] and "dot is not installed" in note
