"""read_samples: the one reader of expression/samples.csv."""

from __future__ import annotations

import pytest

from rnagan.errors import InputFileError
from rnagan.workspace import Workspace, read_samples


def test_read_samples_indexes_by_id_and_keeps_ids_as_text(tmp_path) -> None:
    ws = Workspace(tmp_path).create()
    ws.samples_table.write_text("sample_id,donor_id,tissue,split\n007,d1,lung,train\n8,d2,colon,test\n")
    table = read_samples(ws)
    assert list(table.index) == ["007", "8"] and table.index.name == "sample_id"
    assert table.loc["007", "tissue"] == "lung" and table.loc["8", "donor_id"] == "d2"
    assert read_samples(ws.samples_table).equals(table)


def test_read_samples_names_the_command_and_the_missing_columns(tmp_path) -> None:
    ws = Workspace(tmp_path).create()
    with pytest.raises(InputFileError, match=r"no samples table at .*samples\.csv: run `rnagan expr prepare` first"):
        read_samples(ws)
    ws.samples_table.write_text("sample_id,tissue\n1,lung\n")
    with pytest.raises(InputFileError, match=r"lacks the column\(s\) \['split'\]"):
        read_samples(ws)
