"""The whole story through the CLI: cycle -> proposals -> notices served -> objections -> listed -> repair
refused (too early, with the date) -> repair approved -> removed, measures lifted, publication updated."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cli import cli
from tests.builders_lists import scenario

D = dt.date


@pytest.fixture
def sv(store, runner):
    def invoke(*args, ok=True, input=None):
        result = runner.invoke(cli, ["--db", store.url, *args], catch_exceptions=False, input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def as_json(result):
    return json.loads(result.stdout)


PASSWORD = "secret12345"


def people(sv, office):
    """A clerk (初审) and two reviewers (审核) of the authority of the scenario's entities."""
    for name, role in (("张经办", "clerk"), ("李审核", "reviewer"), ("王科长", "reviewer")):
        sv("users", "add", name, "--authority", office, "--role", role, input=PASSWORD + "\n")


def proposal_of(result) -> int:
    return as_json(result)["proposal_id"]


def test_the_whole_story(store, factory, sv, tmp_path, samr_office):
    """Dated in 2025-2026, so that every decision is dated in the past (a decision is never dated later than
    today)."""
    s = scenario(store, factory, lists=("black", "black", "red"), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    good, bad, person = s["codes"]
    people(sv, samr_office)
    commitment = tmp_path / "信用承诺书.pdf"
    commitment.write_bytes(b"%PDF commitment")
    training = tmp_path / "培训证明.pdf"
    training.write_bytes(b"%PDF training")
    report = tmp_path / "信用报告.pdf"
    report.write_bytes(b"%PDF report")
    receipt = tmp_path / "缴款凭证.pdf"
    receipt.write_bytes(b"%PDF receipt")

    # cycle -> proposals (the red entry has no objection window: listed at once); the admin runs list upkeep
    r = sv("lists", "propose", "--cycle", str(s["cycle"]))
    assert "3 entries proposed (black: 2, red: 1), 1 listed at once" in r.output
    # pre-listing notices served by the admin in one step, as before
    r = sv("lists", "serve", "--cycle", str(s["cycle"]), "--on", "2025-05-06")
    assert "Notice served on 2025-05-06 for 2 entries" in r.output and "objections until 2025-05-21" in r.output
    # the parties' objections, recorded by the clerk
    r = sv(
        "--json", "objection", "file", "--entry", "1", "--reason", "罚款已在处罚决定前缴清",
        "--evidence", str(receipt), "--on", "2025-05-10", "--as", "张经办",
    )  # fmt: skip
    upheld = as_json(r)["objection_id"]
    r = sv(
        "--json", "objection", "file", "--entry", "2", "--reason", "处罚畸重", "--on", "2025-05-12", "--as", "张经办"
    )
    rejected = as_json(r)["objection_id"]
    # decisions: the clerk proposes (初审), a reviewer approves (审核); nothing happens before the approval
    r = sv(
        "objection",
        "decide",
        str(upheld),
        "--uphold",
        "--reason",
        "经核实异议成立",
        "--on",
        "2025-05-17",
        "--as",
        "张经办",
    )
    assert "takes effect once another user with the reviewer role approves it" in r.output
    first = int(r.output.split()[1])
    r = sv("--json", "lists", "history", good)
    assert as_json(r)["entries"][0]["state"] == "notified"
    r = sv("approvals", "approve", str(first), "--as", "张经办", "--on", "2025-05-18", ok=False)
    assert r.exit_code == 1 and "张经办是经办人，不能审核" in r.output
    r = sv("approvals", "approve", str(first), "--as", "李审核", "--on", "2025-05-18")
    assert f"Proposal {first} (objection) approved by 李审核; proposed by 张经办." in r.output
    assert f"Objection {upheld} upheld; entry 1 is revoked." in r.output
    r = sv(
        "--json", "objection", "decide", str(rejected), "--reject", "--reason", "异议理由不成立",
        "--on", "2025-05-19", "--as", "李审核",
    )  # fmt: skip
    second = proposal_of(r)
    r = sv("approvals", "approve", str(second), "--as", "李审核", ok=False)
    assert r.exit_code == 1 and "不能再审核自己的意见" in r.output
    r = sv("approvals", "return", str(second), "--reason", "请补充听证记录", "--on", "2025-05-19", "--as", "王科长")
    assert "returned: 请补充听证记录" in r.output
    r = sv("--json", "approvals", "list", "--returned", "--as", "李审核")
    assert [(p["id"], p["review_reason"]) for p in as_json(r)["proposals"]] == [(second, "请补充听证记录")]
    r = sv(
        "--json", "objection", "decide", str(rejected), "--reject", "--reason", "异议理由不成立，已补充听证记录",
        "--on", "2025-05-19", "--as", "张经办",
    )  # fmt: skip
    third = proposal_of(r)
    assert as_json(sv("--json", "approvals", "list", "--returned"))["proposals"] == []
    r = sv("approvals", "approve", str(third), "--as", "王科长", "--on", "2025-05-19")
    assert "entry 2 is notified (listed from 2025-05-22 unless something else happens)" in r.output
    r = sv("objection", "decide", str(rejected), "--reason", "x", ok=False)
    assert r.exit_code == 2 and "Give --uphold or --reject" in r.output
    # listed; advance is idempotent
    r = sv("lists", "advance", "--as-of", "2025-06-01")
    assert "As of 2025-06-01: 1 listed, 0 expired." in r.output
    r = sv("lists", "advance", "--as-of", "2025-06-01")
    assert "As of 2025-06-01: 0 listed, 0 expired." in r.output
    r = sv("--json", "lists", "show", "black", "--as-of", "2025-06-01")
    assert [(e["id"], e["code"], e["listed_from"]) for e in as_json(r)["entries"]] == [(2, bad, "2025-05-22")]
    # the listing carries both names of the decision whose notice was served (here the admin's one step)
    events = as_json(sv("--json", "lists", "history", bad))["entries"][0]["events"]
    decided = next(e for e in events if e["event"] == "objection_rejected")
    assert decided["data"]["signed"] == {
        "proposal_id": third,
        "proposed_by": "张经办",
        "proposed_on": "2025-05-19",
        "approved_by": "王科长",
        "approved_on": "2025-05-19",
    }
    listed = next(e for e in events if e["event"] == "listed")
    assert listed["data"]["signed"]["single_step"] is True and listed["data"]["signed"]["approved_by"] == "admin"
    # joint measures routed; one department acknowledges, the others are overdue
    r = sv("--json", "measures", "pending", "--as-of", "2025-06-19")
    tasks = as_json(r)["tasks"]
    assert len(tasks) == 5 and as_json(r)["overdue"] == 5
    finance = next(t["task_id"] for t in tasks if t["department"] == "财政局")
    r = sv("measures", "ack", str(finance), "--by", "财政局 王五", "--on", "2025-06-03")
    assert "acknowledged on 2025-06-03 by 财政局 王五." in r.output
    r = sv("measures", "pending", "--department", "住房和城乡建设局", "--as-of", "2025-06-19")
    assert "1 measure tasks pending on 2025-06-19 for 住房和城乡建设局, 1 overdue." in r.output
    r = sv("measures", "pending", "--department", "财政部门", "--as-of", "2025-06-19", ok=False)
    assert r.exit_code == 1 and "No department '财政部门'" in r.output and "did you mean '财政局'" in r.output
    # published
    site = tmp_path / "site"
    r = sv("lists", "publish", "--out", str(site), "--as-of", "2025-06-01")
    assert "Published 2 entries as of 2025-06-01" in r.output
    black = (site / "samr-credit/black/index.html").read_text(encoding="utf-8")
    assert bad in black and good not in black
    assert person not in (site / "samr-credit/red/index.html").read_text(encoding="utf-8")
    # repair refused: too early, with the date
    r = sv(
        "repair", "apply", "--entry", "2", "--commitment", str(commitment), "--training", str(training),
        "--credit-report", str(report), "--on", "2025-09-01", "--as", "张经办", ok=False,
    )  # fmt: skip
    assert r.exit_code == 1
    assert (
        "min_period: listed from 2025-05-22; the minimum publication period of 12 months ends on 2026-05-22" in r.output
    )
    assert "The earliest date an application could succeed is 2026-05-22." in r.output
    # repair approved later, in two steps
    r = sv(
        "--json", "repair", "apply", "--entry", "2", "--commitment", str(commitment), "--evidence", str(receipt),
        "--training", str(training), "--credit-report", str(report), "--on", "2026-05-25", "--as", "张经办",
    )  # fmt: skip
    application = as_json(r)["application_id"]
    assert as_json(r)["status"] == "pending"
    r = sv(
        "--json", "repair", "decide", str(application), "--approve", "--reason", "已履行义务并完成信用修复",
        "--on", "2026-05-29", "--as", "张经办",
    )  # fmt: skip
    r = sv("approvals", "approve", str(proposal_of(r)), "--on", "2026-05-31", "--as", "李审核")
    assert f"Repair application {application} approved on 2026-05-31; entry 2 is repaired." in r.output
    # removed: measures lifted, publication updated
    r = sv("--json", "measures", "pending", "--department", "财政局", "--as-of", "2026-05-31")
    assert [(t["action"], t["measure_id"]) for t in as_json(r)["tasks"]] == [("lift", "black-procurement-ban")]
    sv("lists", "publish", "--out", str(site), "--as-of", "2026-06-01")
    assert bad not in (site / "samr-credit/black/index.html").read_text(encoding="utf-8")
    assert json.loads((site / "samr-credit/black/entries.json").read_text(encoding="utf-8"))["count"] == 0
    r = sv("lists", "show", "black", "--as-of", "2026-06-01")
    assert "0 entries" in r.output
    # the history shows every step
    r = sv("lists", "history", bad)
    steps = [line.split()[2] for line in r.output.splitlines() if line.strip().startswith("#")]
    assert steps == [
        "proposed",
        "notified",
        "objection_filed",
        "objection_rejected",
        "listed",
        "repair_refused",
        "repair_applied",
        "repaired",
    ]
    assert "measures to apply: 4 tasks, 1 acknowledged" in r.output and "measures to lift: 4 tasks" in r.output
    assert "earliest 2026-05-22" in r.output
    assert "[proposed by 张经办 on 2025-05-19, approved by 王科长 on 2025-05-19]" in r.output
    assert "[proposed by 张经办 on 2026-05-29, approved by 李审核 on 2026-05-31]" in r.output
    assert "[decided in one step by admin]" in r.output
    r = sv("lists", "history", good)
    steps = [line.split()[2] for line in r.output.splitlines() if line.strip().startswith("#")]
    assert steps == ["proposed", "notified", "objection_filed", "objection_upheld"]
    data = as_json(sv("--json", "lists", "history", bad))
    (entry,) = data["entries"]
    assert [a["eligibility"]["eligible"] for a in entry["repair_applications"]] == [False, True]
    assert entry["objections"][0]["decision"] == "rejected"


def test_errors_are_sentences(store, factory, sv):
    s = scenario(store, factory, lists=("black",))
    sv("lists", "propose", "--cycle", str(s["cycle"]))
    r = sv("lists", "serve", "--on", "2026-05-06", ok=False)
    assert r.exit_code == 2 and "Give exactly one of --entry ID or --cycle ID" in r.output
    r = sv("lists", "revoke", "--entry", "7", "--reason", "x", ok=False)
    assert r.exit_code == 1 and "There is no list entry 7" in r.output
    r = sv("lists", "show", "blak", ok=False)
    assert "There is no list 'blak' (did you mean 'black'?)" in r.output
    r = sv("lists", "advance", "--as-of", "2026-13-01", ok=False)
    assert r.exit_code == 2 and "'2026-13-01' is not a date" in r.output
    r = sv("lists", "history", "91350100M000100Y43", ok=False)
    assert "No entity with code 91350100M000100Y43" in r.output


@pytest.mark.parametrize("group", ["lists", "objection", "repair", "measures"])
def test_every_command_has_help_with_an_example(runner, group):
    command = cli.commands[group]
    for name, sub in command.commands.items():
        assert "Example: supervise " in (sub.help or ""), f"{group} {name} has no Example: line"
        result = runner.invoke(cli, [group, name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_serve_by_cycle_names_an_unknown_cycle_and_the_revision_holding_the_entries(store, factory, sv):
    import sqlalchemy as sa

    from engine.store import now, schema

    s = scenario(store, factory, lists=("black",))
    sv("lists", "propose", "--cycle", str(s["cycle"]))
    r = sv("lists", "serve", "--cycle", "999", "--on", "2026-05-06", ok=False)
    assert r.exit_code == 1 and "No cycle with id 999" in r.output
    # A rerun (revision 2 of the same pack and period) keeps revision 1's entries: serving it says where they are.
    C = schema.cycles
    with store.transaction() as conn:
        first = conn.execute(sa.select(C).where(C.c.id == s["cycle"])).mappings().one()
        rerun = conn.execute(
            sa.insert(C)
            .values(
                pack_id=first["pack_id"],
                period=first["period"],
                revision=2,
                as_of=first["as_of"],
                policy_version_id=first["policy_version_id"],
                status="committed",
                started_at=now(),
                committed_at=now(),
                entity_count=0,
                actor="test",
                supersedes_id=first["id"],
            )
            .returning(C.c.id)
        ).scalar_one()
    r = sv("lists", "serve", "--cycle", str(rerun), "--on", "2026-05-06")
    assert (
        f"created no list entries: the entries it proposes were created by cycle {s['cycle']}; serve them with "
        f"'supervise lists serve --cycle {s['cycle']}'"
    ) in r.output
    r = sv("lists", "serve", "--cycle", str(s["cycle"]), "--on", "2026-05-06")
    assert "Notice served on 2026-05-06 for 1 entries" in r.output
