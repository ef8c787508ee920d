"""What notice issuing and listing give the command line: ``to_json()`` is the document ``--json`` prints,
``lines()`` the text. Dicts (and a list) still: tests and the demo read their keys."""

from __future__ import annotations

from typing import Any

from engine.results import DictResult


class IssuedNotices(dict):
    """An issue run (IssueReport.as_dict): source, counts per kind, files, skipped causes, changed renders."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        r = self

        def kinds(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {n}" for k, n in d.items())

        lines = [
            f"{r['source'][0].upper()}{r['source'][1:]}: {r['issued_count']} notice(s) issued"
            + (f" ({kinds(r['issued_by_kind'])})" if r["issued_count"] else "")
            + f", {r['already_count']} already issued"
            + (" (re-written)" if r["already_count"] and r["out"] else "")
            + (f"; {r['files']} file(s) in {r['out']} ({', '.join(r['formats'])})" if r["out"] else "")
            + "."
        ]
        shown = r["issued"] if len(r["issued"]) <= 20 else r["issued"][:10]
        lines += [f"  {n['number']}  {n['kind']:<20} {n['recipient']}" for n in shown]
        if len(shown) < len(r["issued"]):
            lines.append(f"  ... and {len(r['issued']) - len(shown)} more ('supervise notices list' shows them all)")
        for s in r["skipped"]:
            lines.append(f"  skipped {s['source_key']}: {s['reason']}")
        if r["changed"]:
            lines.append(
                f"Warning: {len(r['changed'])} already-issued notice(s) now render differently from the text "
                f"that was issued (the templates changed since), e.g. {r['changed'][0]}."
            )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


class NoticeList(list):
    """Issued notices (list_notices), one dict each."""

    def to_json(self) -> list[dict[str, Any]]:
        return list(self)

    def lines(self) -> list[str]:
        if not self:
            return ["No notices match."]
        return [f"{len(self)} notice(s):"] + [
            f"  {r['number']}  {r['issued_on']}  {r['kind']:<20} {r['recipient']} ({r['code']})  {r['source_key']}"
            for r in self
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


_SHOWN_KEYS = (
    "number",
    "kind",
    "source_key",
    "template",
    "pack_id",
    "pack_version",
    "content_hash",
    "cycle_id",
    "decision_id",
    "entry_id",
    "check_id",
)


class NoticeShown(DictResult):
    """A stored notice shown (``supervise notices show``): its stored row's keys, issued_on, context, the file
    written (or None) and, when none is, the rendered content; the text names the file written."""

    @classmethod
    def of(cls, row: dict[str, Any], out: str | None, content: str | bytes) -> NoticeShown:
        shown = cls({k: row[k] for k in _SHOWN_KEYS})
        shown.update(issued_on=row["issued_on"], context=row["context"], file=out)
        if not out:
            shown["content"] = content
        return shown

    def lines(self) -> list[str]:
        return [f"Wrote {self['number']} ({self['kind']}) to {self['file']}."]


class PreviewWritten(DictResult):
    """A sample notice written to a file (``supervise notices preview --out``): kind, file."""

    def lines(self) -> list[str]:
        return [f"Wrote a sample {self['kind']} notice to {self['file']}."]
