"""Fixtures of the list tests."""

from __future__ import annotations

import pathlib
import re

import pytest

import policies


@pytest.fixture
def samr_office(tmp_path, monkeypatch):
    """The authorities users act for are pack data: a pack file 'samr-credit' (the scenario's pack id; a copy of
    the shipped market pack) whose authority for 福州市 (3501, where the scenario's entities are) is 榕市监."""
    shipped = (pathlib.Path(policies.__file__).parent / "packs/market-credit-risk.yaml").read_text(encoding="utf-8")
    text = shipped.replace("id: market-credit-risk", "id: samr-credit", 1)
    text = re.sub(
        r"(?m)^authorities:\n(  - .*\n)+",
        'authorities:\n  - {region: "3501", name: 福州市市场监督管理局, short: 榕市监, document_prefix: 榕市监信}\n',
        text,
    )
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "samr-credit.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SUPERVISE_POLICIES", str(folder))
    return "榕市监"
