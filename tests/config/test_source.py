"""The project file parser: libyaml when PyYAML has it, with the pure-Python parser's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shopfloor.config import source
from shopfloor.config.template import write_example_project
from shopfloor.errors import ConfigError


def test_values_and_lines_are_the_same_with_either_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_example_project(tmp_path)
    file = tmp_path / "factory.yaml"
    text = file.read_text(encoding="utf-8") + "project:\n  name: again\n"  # a repeated key
    fast = source.load_yaml(file, text)
    monkeypatch.setattr(source, "_FAST_LOADER", yaml.SafeLoader)
    slow = source.load_yaml(file, text)
    assert fast.data == slow.data
    assert fast.lines == slow.lines
    assert fast.problems == slow.problems and len(fast.problems) == 1


@pytest.mark.parametrize(
    "text", ["project:\n  name: [unclosed\n", "a: 1\n b: 2\n", "key: 'open\n", "- a\nb: 1\n"]
)
def test_a_file_that_does_not_parse_is_told_as_pyyaml_tells_it(text: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as pure:
        yaml.compose(text, Loader=yaml.SafeLoader)
    mark = pure.value.problem_mark
    assert mark is not None
    with pytest.raises(ConfigError) as told:
        source.load_yaml(Path("factory.yaml"), text)
    assert str(told.value) == (
        f"factory.yaml:{mark.line + 1}: not valid YAML: {pure.value.problem}"
    )
