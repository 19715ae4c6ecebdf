import json
import subprocess
import sys

import pandas as pd
import pytest

from polymodal.cli import build_parser, main


def subcommands(parser):
    for action in parser._subparsers._group_actions:
        yield from action.choices.items()


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    names = []
    for name, sub in subcommands(parser):
        names.append(name)
        if sub._subparsers:
            names += [f"{name} {n}" for n, _ in subcommands(sub)]
    assert {"inspect", "data", "data list", "data build", "demo"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as info:
            main([*name.split(), "--help"])
        assert info.value.code == 0
        assert "usage: polymodal" in capsys.readouterr().out


def test_inspect_prints_schema_and_labels(tiny_table, capsys):
    assert main(["inspect", str(tiny_table), "--label", "color"]) == 0
    out = capsys.readouterr().out
    assert "photo" in out and "image" in out and "label color" in out and "no problems found" in out


def test_inspect_json_with_overrides(tiny_table, capsys):
    assert main(["inspect", str(tiny_table), "--label", "color", "--ignore", "weight", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    roles = {c["name"]: c["role"] for c in summary["schema"]["columns"]}
    assert roles["weight"] == "ignore" and summary["labels"]["color"] == {"blue": 4, "green": 4, "red": 4}
    assert summary["present"]["photo"] == 12


def test_inspect_errors_are_listed_not_tracebacks(tiny_table, tmp_path, capsys):
    df = pd.read_csv(tiny_table)
    df.loc[2, "photo"] = "img/nope.png"
    df.loc[5, "sound"] = "snd/nope.wav"
    df.to_csv(tiny_table, index=False)
    assert main(["inspect", str(tiny_table)]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s) found" in err and "row 2, column 'photo'" in err and "row 5, column 'sound'" in err
    skipped = tmp_path / "skipped.csv"
    assert main(["inspect", str(tiny_table), "--on-error", "skip", "--skipped", str(skipped)]) == 0
    assert pd.read_csv(skipped)["row"].tolist() == [2, 5]


def test_unknown_column_is_a_clear_error(tiny_table, capsys):
    assert main(["inspect", str(tiny_table), "--label", "nope"]) == 2
    assert "no column named 'nope'" in capsys.readouterr().err


def test_unknown_recipe_lists_valid_ones(tmp_path, capsys):
    assert main(["data", "build", "imagenet", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set recipe 'imagenet'; valid:" in capsys.readouterr().err


def test_commands_and_their_help_do_not_import_torch():
    """--help of the commands other than fit and align stays instant: the jobs are imported when wanted."""
    code = ("import sys; from polymodal.cli import build_parser; build_parser().parse_args(['inspect', 't.csv']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
