"""The exporters table: one entry per format, the CLI's choices, new formats."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.queue.casedb import Dev, Item, hit, populate
from triage.casework import case_data, open_store
from triage.cli import main
from triage.cli.casework import export_cmd
from triage.errors import UnknownNameError, UsageError
from triage.queue import export as export_module
from triage.queue.data import CaseData
from triage.queue.export import (
    EXPORTERS,
    Exporter,
    ExportOptions,
    export,
    export_csv,
    export_json,
    export_vics,
)
from triage.queue.score import Calibration
from triage.registry import Registry


@pytest.fixture
def db(tmp_path: Path) -> Path:
    devices = [
        Dev("phone", None, [Item("DCIM/a.jpg", b"aaa", matches=[hit("1", "A")])])
    ]
    return populate(tmp_path / "case.db", [], devices)


@pytest.fixture
def data(db: Path) -> CaseData:
    with open_store(db) as store:
        return case_data(store)


def test_one_entry_per_format_in_cli_order() -> None:
    assert EXPORTERS.names() == ("json", "csv", "vics")
    assert all(e.name == name for name, e in EXPORTERS.items())
    assert all(e.description for e in EXPORTERS.values())


def test_each_entry_writes_what_its_function_writes(data: CaseData) -> None:
    assert export(data, "json") == export_json(data)
    assert export(data, "csv") == export_csv(data)
    assert export(data, "vics", vics_scheme="caid") == export_vics(data, "caid")


def test_an_unknown_format_names_the_known_ones(data: CaseData) -> None:
    with pytest.raises(UnknownNameError) as info:
        export(data, "xml")
    assert isinstance(info.value, UsageError)
    assert str(info.value) == "unknown export format 'xml'; known: json, csv, vics"


def test_cli_format_choices_come_from_the_table() -> None:
    (fmt,) = [p for p in export_cmd.params if p.name == "fmt"]
    assert isinstance(fmt.type, click.Choice)
    assert tuple(fmt.type.choices) == EXPORTERS.names()


def test_a_registered_format_is_exported(
    data: CaseData, monkeypatch: pytest.MonkeyPatch
) -> None:
    def devices(cd: CaseData, _: Calibration | None, opts: ExportOptions) -> str:
        return json.dumps([d.row.device_id for d in cd.devices] + [opts.vics_scheme])

    table: Registry[Exporter] = Registry("export format")
    for exporter in EXPORTERS.values():
        table.register(exporter)
    table.register(Exporter("ids", "device ids", devices))
    monkeypatch.setattr(export_module, "EXPORTERS", table)
    assert json.loads(export(data, "ids")) == ["phone", "auto"]


def test_export_command_writes_each_format(db: Path, tmp_path: Path) -> None:
    for name in EXPORTERS:
        out = tmp_path / f"out.{name}"
        result = CliRunner().invoke(
            main, ["export", "--db", str(db), "--format", name, "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert f"({name}, 1 device(s))" in result.output
        assert out.read_text()
