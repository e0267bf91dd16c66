"""The console script: help, unknown commands, and the tour's first part end to end."""

from __future__ import annotations

from chainrule.cli import main
from chainrule.tour import train_moons


def test_help_lists_the_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("tour", "check", "exercise"):
        assert command in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_scalar_moons_training_learns():
    result = train_moons(steps=25)
    assert result["accuracy"] >= 0.9  # micrograd's demo reaches 100% with more steps


def test_tour_quick_runs(capsys, tmp_path):
    # one lesson keeps this fast; tests/test_lessons.py runs the tour with all of them
    assert main(["tour", "--quick", "--out", str(tmp_path), "--lessons", "in-place"]) == 0
    assert (tmp_path / "index.html").is_file()
    assert "337 parameters" in capsys.readouterr().out
