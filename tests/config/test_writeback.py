"""The write-back allow-list in the project file, and rules checked against it with file:line."""

from __future__ import annotations

from pathlib import Path

from shopfloor.config import load_project
from tests.config.test_alert_rules import CNC, line_of, problems, project

ALARM = "ns=2;s=CNC01.Alarm.Active"
ALLOW = f"""
  - connector: cnc
    min_interval_s: 2
    targets:
      - {{address: "{ALARM}", type: Boolean}}
      - {{address: "ns=2;s=CNC01.Alarm.Severity", type: Int32, min: 1, max: 1000}}
      - {{address: "2:CNC01/2:Alarm/2:Message"}}
"""


def with_allow_list(tmp_path: Path, rules: str, allow: str = ALLOW, extra: str = "") -> Path:
    path = project(tmp_path, rules)
    text = path.read_text().replace("writeback: []", "writeback:" + allow)
    text = text.replace("pipelines:\n", extra + "pipelines:\n", 1) if extra else text
    path.write_text(text)
    return path


def test_a_rule_writes_allow_listed_targets(tmp_path: Path) -> None:
    path = with_allow_list(
        tmp_path,
        f"  - name: hot\n    signal: {CNC}/spindle_temperature\n    threshold: 70\n"
        f"    writeback:\n"
        f'      - {{connector: cnc, address: "{ALARM}", value: true, reset: false}}\n'
        '      - {connector: cnc, address: "ns=2;s=CNC01.Alarm.Severity", value: "800"}\n'
        '      - {connector: cnc, address: "2:CNC01/2:Alarm/2:Message", value: "{message}"}\n'
        f"  - name: single\n    signal: {CNC}/spindle_load\n    threshold: 1\n"
        f'    writeback: {{connector: cnc, address: "{ALARM}"}}\n',
    )
    config = load_project(path, build_pipelines=False).config
    (entry,) = config.writeback
    assert entry.connector == "cnc" and entry.min_interval_s == 2 and len(entry.targets) == 3
    hot, single = config.alert_rules
    assert [w.value for w in hot.writeback] == [True, "800", "{message}"]
    assert hot.writeback[0].reset is False and single.writeback[0].value is True


def test_targets_outside_the_allow_list_are_refused_with_their_line(tmp_path: Path) -> None:
    path = with_allow_list(
        tmp_path,
        f"  - name: a\n    signal: {CNC}/spindle_temperature\n    threshold: 70\n"
        "    writeback:\n"
        '      - {connector: cnc, address: "ns=2;s=CNC01.Alarm.Activ"}\n'
        f'      - {{connector: cnc, address: "{ALARM}", value: 2.5}}\n'
        '      - {connector: cnc, address: "ns=2;s=CNC01.Alarm.Severity", value: 5000}\n'
        f"  - name: t\n    signal: {CNC}/spindle_load\n    threshold: 3\n"
        '    writeback: {connector: cnc, address: "2:CNC01/2:Alarm/2:Message", value: "{nope}"}\n'
        f"  - name: b\n    signal: {CNC}/spindle_load\n    threshold: 1\n"
        '    writeback: {connector: press, address: "i=1"}\n'
        f"  - name: c\n    signal: {CNC}/spindle_load\n    threshold: 2\n"
        '    writeback: {connector: mill, address: "i=1"}\n',
        extra="  - {name: mill, type: replay, path: recordings/mill.csv}\n",
    )
    text = "\n".join(problems(path))
    f = path.name
    misspelt = line_of(path, 'Alarm.Activ"')
    assert (
        f"{f}:{misspelt}: alert_rules[0].writeback[0].address: "
        f"'ns=2;s=CNC01.Alarm.Activ' is not in the writeback allow-list of connector 'cnc' "
        f"(did you mean '{ALARM}'?)"
    ) in text
    assert (
        f"{f}:{line_of(path, 'value: 2.5')}: alert_rules[0].writeback[1].value: "
        f"cnc {ALARM}: 2.5 does not fit a Boolean"
    ) in text
    assert (
        "alert_rules[0].writeback[2].value: " in text
        and "5000 is outside the allowed range 1..1000" in text
    )
    assert (
        f"{f}:{line_of(path, '{nope}')}: alert_rules[1].writeback[0].value: text '{{nope}}' "
        "names {nope}; it may name {rule}"
    ) in text
    assert (
        f"{f}:{line_of(path, 'connector: press')}: alert_rules[2].writeback.connector: "
        "no connector 'press' (connectors: cnc, mill)"
    ) in text
    assert (
        f"{f}:{line_of(path, 'connector: mill')}: alert_rules[3].writeback.connector: connector "
        "'mill' is of type 'replay', which cannot write back (types that can: modbus, opcua)"
    ) in text


def test_nothing_is_written_without_an_allow_list_entry(tmp_path: Path) -> None:
    path = with_allow_list(
        tmp_path,
        f"  - name: a\n    signal: {CNC}/spindle_temperature\n    threshold: 70\n"
        f'    writeback: {{connector: cnc, address: "{ALARM}"}}\n',
        allow=" []\n",
    )
    (issue,) = problems(path)
    assert (
        f":{line_of(path, 'writeback: {connector')}: alert_rules[0].writeback.connector: "
        "connector 'cnc' has no entry in the writeback allow-list"
    ) in issue


def test_the_allow_list_itself_is_checked(tmp_path: Path) -> None:
    allow = (
        "\n  - {connector: cnc, targets: [{address: a}, {address: a}]}"
        "\n  - {connector: mill, targets: [{address: b}]}"
        "\n  - {connector: gone, targets: [{address: c, type: Boolean, min: 0}]}"
        "\n  - {connector: cnc, targets: [{address: d, type: Int8}]}"
        "\n  - {connector: gone, targets: [{address: e}]}"
        "\n  - {connector: mill, targets: [{address: f}]}\n"
    )
    path = with_allow_list(
        tmp_path, "  []\n", allow=allow, extra="  - {name: mill, type: replay, path: x.csv}\n"
    )
    text = "\n".join(problems(path))
    assert "writeback[0]: target 'a' is listed twice" in text
    assert "writeback[1].connector: connector 'mill' is of type 'replay', which cannot" in text
    assert "writeback[2].targets[0]: a Boolean target has no min or max" in text
    assert "writeback[3].targets[0].type: Input should be 'Boolean'" in text
    assert "writeback[4].connector: no connector 'gone' (connectors: cnc, mill)" in text
    assert "writeback[5].connector: 'mill' is defined twice (also at index 1)" in text
