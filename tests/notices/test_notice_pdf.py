"""PDF notices: refused (with the package to install) when the style's Chinese fonts are missing, and the issuing
body's name never wraps leaving one lone character on a line."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from notices import issue
from notices.render import ISSUER_SPACING_EM, ISSUER_WIDTH_PT, issuer_layout, render

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _empty_fontconfig(tmp_path: pathlib.Path) -> dict[str, str]:
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


@pytest.mark.skipif(shutil.which("fc-list") is None, reason="fontconfig (fc-list) is not installed")
def test_pdf_is_refused_without_the_cjk_fonts_and_says_what_to_install(tmp_path):
    env = _empty_fontconfig(tmp_path)
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], env=env, capture_output=True, text=True)
    assert listed.stdout.strip() == ""  # the config really has no fonts
    out = tmp_path / "preview.pdf"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli import cli; cli()",
            "notices",
            "preview",
            "warning",
            "--format",
            "pdf",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "fonts-noto-cjk" in done.stderr and "make deps" in done.stderr and "Noto Serif CJK SC" in done.stderr
    assert not out.exists()
    # html still works without fonts
    html = tmp_path / "preview.html"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli import cli; cli()",
            "notices",
            "preview",
            "warning",
            "--format",
            "html",
            "--out",
            str(html),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert html.read_text(encoding="utf-8").count("失信提示函") >= 1


@pytest.mark.parametrize("n", range(1, 90))
def test_issuer_lines_are_balanced_and_fit(n):
    name = ("泉州市社会信用体系建设领导小组办公室" * 6)[:n]
    layout = issuer_layout(name)
    assert "".join(layout["lines"]) == name
    size = float(layout["size"])
    assert 18 <= size <= 26
    for line in layout["lines"]:
        assert len(line) * size * (1 + ISSUER_SPACING_EM) <= ISSUER_WIDTH_PT + 1e-6
        assert len(line) >= 2 or n == 1, layout
    lengths = [len(x) for x in layout["lines"]]
    assert max(lengths) - min(lengths) <= len(lengths)  # balanced


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
@pytest.mark.parametrize(
    "name",
    [
        "泉州市社会信用体系建设领导小组办公室",
        "国家税务总局泉州市税务局第一稽查局（泉州市税务局重大税收违法案件审理委员会办公室）",
    ],
)
def test_long_issuer_name_in_the_pdf_has_no_lone_character(tmp_path, name):
    ctx = issue.sample_context("warning")
    ctx["authority"]["name"] = name
    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(render("warning", ctx, "pdf"))
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    head = [line.strip() for line in text.splitlines() if line.strip()]
    got, lines = "", []
    for line in head:  # the issuer lines come first, up to the whole name
        lines.append(line)
        got += line
        if len(got) >= len(name):
            break
    assert got == name, head[:4]
    assert lines == issuer_layout(name)["lines"]
    assert all(len(line) >= 2 for line in lines)
