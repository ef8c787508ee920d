"""PDF notices through both engines (Typst, the default, and WeasyPrint): the text a party reads is in the PDF,
and a value is printed literally by Typst, never run as Typst code."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from engine.errors import NoticeError
from notices import issue
from notices.render import KINDS, PDF_ENGINE, PDF_ENGINES, render, typst_text
from tests import builders_notices as B

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")

HOSTILE = [
    '#read("/etc/passwd")',
    '#include "/etc/hostname"',
    '#import "@preview/cetz:0.2.0": *',
    "*粗体* _斜体_ `raw` $x^2$",
    "<label> @ref [方括号] ~ -- ... // 注释 /* 块",
    "反斜杠\\ 与 \\\\ 与 \\u{41}",
    '#{panic("boom")}',
    "= 标题 - 列表 + 编号 1. 2) / 术语:",
    "'单引号' \"双引号\" https://example.com/x?y=1&z=#2",
]


def pdf_text(pdf: bytes, tmp_path: pathlib.Path) -> str:
    path = tmp_path / "n.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def squeeze(text: str) -> str:
    """The words without line breaks and spaces (pdftotext breaks lines where the page does)."""
    return "".join(text.split())


def test_typst_is_the_default_and_weasyprint_selectable():
    assert PDF_ENGINE == "typst" and set(PDF_ENGINES) == {"typst", "weasyprint"}
    with pytest.raises(NoticeError, match="Unknown PDF engine 'typs'.*typst"):
        render("warning", issue.sample_context("warning"), "pdf", pdf_engine="typs")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("engine", PDF_ENGINES)
def test_each_kind_prints_party_number_and_basis(kind, engine, tmp_path):
    ctx = issue.sample_context(kind)
    pdf = render(kind, ctx, "pdf", pdf_engine=engine)
    assert pdf.startswith(b"%PDF-")
    text = squeeze(pdf_text(pdf, tmp_path))
    assert ctx["recipient"]["name"] in text and ctx["number"] in text and ctx["title"] in text
    for basis in ctx.get("basis") or []:
        assert squeeze(basis) in text
    assert "—1—" in text  # the page number


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_party_name_prints_literally_in_the_typst_pdf(hostile, tmp_path):
    ctx = issue.sample_context("warning")
    ctx["recipient"]["name"] = hostile
    ctx["summary"] = f"原因{hostile}原因"
    source = render("warning", ctx, "typ")
    assert hostile not in source or hostile.isalnum()  # escaped in the source
    text = squeeze(pdf_text(render("warning", ctx, "pdf", pdf_engine="typst"), tmp_path))
    assert squeeze(hostile) in text
    assert "root:" not in text  # /etc/passwd was not read


def test_typst_text_escapes_every_markup_character():
    assert typst_text("泉州市示例公司") == "泉州市示例公司"
    assert typst_text('#read("x")') == '\\#read\\(\\"x\\"\\)'
    assert typst_text("a\\b") == "a\\\\b"
    assert typst_text("一\n\n二") == "一  二"  # a blank line would end the paragraph


def test_an_html_template_of_ones_own_without_its_typst_form_is_refused_for_a_typst_pdf(tmp_path):
    shipped = pathlib.Path(__file__).resolve().parents[2] / "notices" / "templates" / "warning.html"
    (tmp_path / "warning.html").write_text(shipped.read_text(encoding="utf-8").replace("特此函告", "此致"))
    ctx = issue.sample_context("warning")
    with pytest.raises(NoticeError, match=r"changes the HTML form \(warning\.html\).*warning\.typ.*weasyprint"):
        render("warning", ctx, "pdf", tmp_path, "typst")
    assert "此致" in squeeze(pdf_text(render("warning", ctx, "pdf", tmp_path, "weasyprint"), tmp_path))


def test_a_typst_template_error_names_the_fix(tmp_path):
    (tmp_path / "warning.typ").write_text('{% extends "_base.typ" %}{% block body %}#nosuchfunc(1){% endblock %}')
    with pytest.raises(NoticeError, match=r"Typst could not typeset.*\.typ template"):
        render("warning", issue.sample_context("warning"), "pdf", tmp_path, "typst")


@pytest.mark.parametrize("engine", PDF_ENGINES)
def test_issuing_a_cycle_writes_pdfs_with_either_engine_on_sqlite(sqlite_store, tmp_path, engine):
    world = B.build_world(sqlite_store)
    report = issue.issue_for_cycle(
        sqlite_store, world.cycle_id, out=tmp_path, formats=("pdf",), as_of=B.AS_OF, pdf_engine=engine
    )
    pre = next(n for n in report.issued if n["kind"] == "pre_listing")
    text = squeeze(pdf_text(pathlib.Path(pre["files"][0]).read_bytes(), tmp_path))
    row = issue.get_notice(sqlite_store, pre["number"])
    assert row["context"]["recipient"]["name"] in text and pre["number"] in text and "陈述、申辩" in text
    for basis in row["context"]["basis"]:
        assert squeeze(basis) in text
    # re-rendered from the stored context: Typst gives the same bytes (the PDF's date is the notice's own)
    if engine == "typst":
        assert issue.render_notice(row, "pdf", pdf_engine="typst") == pathlib.Path(pre["files"][0]).read_bytes()
