"""Two-step decisions (初审 / 审核) and who may act: real SQLite and PostgreSQL, the real lifecycle."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
import sqlalchemy as sa

from engine import values
from engine.access import AccessRefused, guard, users
from engine.errors import ListError
from engine.store import schema
from lists import acts, approvals, lifecycle
from notices import issue as notices_issue
from tests.builders_lists import scenario

D = dt.date
PW = "secret12345"


def staff(store, office):
    with store.transaction() as conn:
        for name, role in (("张经办", "clerk"), ("李审核", "reviewer"), ("王科长", "reviewer")):
            users.add(conn, name, office, role, PW, "admin")
        # a clerk of 泉州 (the shipped market pack's authority for 3505): the scenario's entities are in 福州
        users.add(conn, "泉州经办", "泉市监", "clerk", PW, "admin")


def state(store, entry_id):
    with store.read() as conn:
        return lifecycle.load_one(conn, entry_id, lock=False).state


def write(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


def test_listing_in_two_steps_serves_the_notice_on_approval_signed_by_both(store, factory, samr_office):
    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    proposed = write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    assert proposed["status"] == "pending" and state(store, 1) == "proposed"
    with store.read() as conn:
        assert [p["id"] for p in approvals.pending(conn, users.get(conn, "李审核"))] == [proposed["proposal_id"]]
        assert approvals.pending(conn, users.get(conn, "泉州经办")) == []  # outside its region: not in its queue
    done = write(store, acts.approve, "李审核", [proposed["proposal_id"]], D(2025, 5, 6))
    assert done[0]["status"] == "approved" and state(store, 1) == "notified"
    with store.read() as conn:
        entry = lifecycle.load_one(conn, 1, lock=False)
        notified = entry.event("notified")
        assert notified["actor"] == "李审核" and notified["valid_from"] == D(2025, 5, 6)
        assert notified["data"]["signed"] == {
            "proposal_id": proposed["proposal_id"],
            "proposed_by": "张经办",
            "proposed_on": "2025-05-05",
            "approved_by": "李审核",
            "approved_on": "2025-05-06",
        }
        actions = [r.action for r in conn.execute(sa.select(schema.audit_log).order_by(schema.audit_log.c.id))]
        assert actions[-2:] == ["propose.listing", "approve.listing"]
        assert approvals.pending(conn) == []
        (number,) = conn.execute(
            sa.select(schema.notices.c.number).where(schema.notices.c.kind == "pre_listing")
        ).scalars()
    # the pre-listing notice, issued on approval, names both and is dated the approval
    text = notices_issue.render_notice(notices_issue.get_notice(store, number), "txt")
    assert "初审：张经办（2025年5月5日）　审核：李审核（2025年5月6日）" in text and "2025年5月6日" in text
    html = notices_issue.render_notice(notices_issue.get_notice(store, number), "html")
    assert '<p class="signed">初审：张经办（2025年5月5日）　审核：李审核（2025年5月6日）</p>' in html


def test_no_one_reviews_its_own_proposal_and_a_clerk_reviews_nothing(store, factory, samr_office):
    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    mine = write(store, acts.serve, "李审核", D(2025, 5, 5), entry_id=1)
    with pytest.raises(AccessRefused, match="李审核提出了初审意见.*不能再审核自己的意见"):
        write(store, acts.approve, "李审核", [mine["proposal_id"]], D(2025, 5, 6))
    with pytest.raises(AccessRefused, match="张经办是经办人，不能审核：这一步只能由审核人、管理员办理"):
        write(store, acts.approve, "张经办", [mine["proposal_id"]], D(2025, 5, 6))
    with pytest.raises(ListError, match="awaits review already"):
        write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    with pytest.raises(AccessRefused, match="整批送达只能由管理员办理"):
        write(store, acts.serve, "张经办", D(2025, 5, 5), cycle_id=s["cycle"])
    assert state(store, 1) == "proposed"
    with store.read() as conn:  # the refusals stored nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.proposal_reviews)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.proposals)).scalar_one() == 1


def test_a_clerk_of_another_city_is_refused_with_the_rule(store, factory, samr_office):
    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    with pytest.raises(AccessRefused) as refused:
        write(store, acts.serve, "泉州经办", D(2025, 5, 5), entry_id=1)
    assert str(refused.value).startswith("泉州经办属泉州市市场监督管理局，只能办理泉州市登记的主体；")
    assert "登记于福建省福州市" in str(refused.value)
    with pytest.raises(AccessRefused, match="泉州经办属泉州市市场监督管理局"):
        write(store, acts.file_objection, "泉州经办", 1, "处罚畸重", [], D(2025, 5, 6))
    # a pack its authority does not run
    with store.read() as conn:
        clerk = users.get(conn, "张经办")
    with pytest.raises(
        AccessRefused,
        match="张经办属福州市市场监督管理局，该机关办理的政策包为samr-credit；政策包tax-credit的名单不由该机关办理。",
    ):
        guard.require_pack(clerk, "tax-credit")


def test_decisions_are_never_dated_later_than_today(store, factory, samr_office):
    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    tomorrow = values.today() + dt.timedelta(days=1)  # today in China, as the rule counts it
    with pytest.raises(AccessRefused, match=f"送达日期{tomorrow.isoformat()}晚于今天"):
        write(store, acts.serve, "张经办", tomorrow, entry_id=1)
    with pytest.raises(AccessRefused, match=f"初审日期{tomorrow.isoformat()}晚于今天"):
        write(store, acts.revoke, "张经办", 1, "处罚决定已被撤销", tomorrow)
    with pytest.raises(AccessRefused, match="送达日期.*晚于今天"):
        write(store, acts.serve, "admin", tomorrow, cycle_id=s["cycle"])
    proposal = write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    with pytest.raises(AccessRefused, match="审核日期.*晚于今天"):
        write(store, acts.approve, "李审核", [proposal["proposal_id"]], tomorrow)
    with pytest.raises(ListError, match="cannot be reviewed earlier"):
        write(store, acts.approve, "李审核", [proposal["proposal_id"]], D(2025, 5, 4))
    assert state(store, 1) == "proposed"


def test_returned_then_proposed_again_and_a_stale_proposal_rolls_back_whole(store, factory, samr_office):
    s = scenario(store, factory, lists=("black", "black"), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    first = write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    with pytest.raises(ListError, match="says why"):
        write(store, acts.send_back, "李审核", first["proposal_id"], "  ", D(2025, 5, 5))
    write(store, acts.send_back, "李审核", first["proposal_id"], "告知书送达地址有误", D(2025, 5, 5))
    with store.read() as conn:
        (back,) = approvals.returned(conn, users.get(conn, "张经办"))
        assert (back["id"], back["review_reason"], back["reviewed_by"]) == (
            first["proposal_id"],
            "告知书送达地址有误",
            "李审核",
        )
    with pytest.raises(ListError, match="already returned by 李审核"):
        write(store, acts.approve, "王科长", [first["proposal_id"]], D(2025, 5, 6))
    again = write(store, acts.serve, "张经办", D(2025, 5, 6), entry_id=1)
    with store.read() as conn:
        assert approvals.returned(conn) == []
    # entry 2: proposed, then served in one step by the admin before the review: approving it fails whole
    stale = write(store, acts.serve, "张经办", D(2025, 5, 6), entry_id=2)
    write(store, acts.serve, "admin", D(2025, 5, 6), entry_id=2)
    with pytest.raises(ListError, match="is notified"):
        write(store, acts.approve, "李审核", [again["proposal_id"], stale["proposal_id"]], D(2025, 5, 7))
    assert state(store, 1) == "proposed"  # the first approval of the batch rolled back with the failing one
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.proposal_reviews)).scalar_one() == 1


def test_objection_repair_and_revocation_decisions_take_two_users(store, factory, samr_office):
    s = scenario(store, factory, lists=("black", "black"), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    write(store, acts.serve, "admin", D(2025, 5, 6), cycle_id=s["cycle"])
    with store.read() as conn:  # the admin's one-step service: the notices carry the seal, no 初审/审核 line
        contexts = conn.execute(sa.select(schema.notices.c.context)).scalars().all()
        assert contexts and not any("signed" in c for c in contexts)
    filed = write(store, acts.file_objection, "张经办", 1, "罚款已缴清", [], D(2025, 5, 8))
    p = write(store, acts.decide_objection, "张经办", filed["objection_id"], True, "经核实异议成立", D(2025, 5, 9))
    assert state(store, 1) == "notified"
    write(store, acts.approve, "王科长", [p["proposal_id"]], D(2025, 5, 10))
    assert state(store, 1) == "revoked"
    with pytest.raises(ListError, match="already upheld"):
        write(store, acts.decide_objection, "张经办", filed["objection_id"], False, "x", D(2025, 5, 11))
    p = write(store, acts.revoke, "张经办", 2, "处罚决定已被撤销", D(2025, 5, 12))
    assert state(store, 2) == "notified"
    write(store, acts.approve, "李审核", [p["proposal_id"]], D(2025, 5, 12))
    assert state(store, 2) == "revoked"
    with store.read() as conn:
        history = approvals.of_entry(conn, 2)
        assert [(h["kind"], h["status"], h["proposed_by"], h["reviewed_by"]) for h in history] == [
            ("revocation", "approved", "张经办", "李审核")
        ]
        decided = conn.execute(sa.select(schema.objection_decisions)).one()
        assert decided.decided_by == "王科长"


def test_history_tables_are_append_only(store, factory, samr_office):
    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    for statement in (
        sa.update(schema.proposals).values(proposed_by="someone else"),
        sa.delete(schema.proposals),
        sa.update(schema.audit_log).values(actor="nobody"),
        sa.delete(schema.audit_log),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            write(store, lambda conn, st=statement: conn.execute(st))


def test_users_passwords_and_disabling(store):
    with store.transaction() as conn:
        with pytest.raises(AccessRefused, match="too short"):
            users.add(conn, "张经办", "泉市监", "clerk", "short1", "admin")
        with pytest.raises(AccessRefused, match="letters and digits"):
            users.add(conn, "张经办", "泉市监", "clerk", "onlyletterslong", "admin")
        with pytest.raises(AccessRefused, match="acts for one authority"):
            users.add(conn, "张经办", None, "clerk", PW, "admin")
        with pytest.raises(AccessRefused, match="No authority '泉X'.*泉市监（泉州市市场监督管理局，泉州市）"):
            users.add(conn, "张经办", "泉X", "clerk", PW, "admin")
        users.add(conn, "张经办", "泉州市市场监督管理局", "clerk", PW, "admin")
        with pytest.raises(AccessRefused, match="exists already"):
            users.add(conn, "张经办", "泉市监", "reviewer", PW, "admin")
        stored = conn.execute(sa.select(schema.users.c.password_hash).where(schema.users.c.name == "张经办")).scalar()
        assert stored.startswith("$argon2id$") and PW not in stored
    with store.transaction() as conn:
        assert users.authenticate(conn, "张经办", PW).authority.id == "泉市监"
        for name, password in (("张经办", PW + "x"), ("nobody", PW), ("admin", "")):
            with pytest.raises(AccessRefused, match="^用户名或密码不正确，或该账号已停用。$"):
                users.authenticate(conn, name, password)
        with pytest.raises(AccessRefused, match="不能管理用户"):
            users.disable_as(conn, "张经办", "admin")
        users.disable_as(conn, "admin", "张经办")
    with store.transaction() as conn:
        with pytest.raises(AccessRefused, match="^用户名或密码不正确"):
            users.authenticate(conn, "张经办", PW)
        with pytest.raises(AccessRefused, match="was disabled on"):
            users.get(conn, "张经办")
        listed = {u["name"]: u for u in users.list_users(conn)}
        assert listed["admin"]["has_password"] is False and listed["张经办"]["disabled_at"]


def test_a_command_starts_without_hashing_a_password():
    """The hash an unknown name is checked against (so that timing tells nothing) is made on the first login, not
    when the CLI is imported (argon2 costs about 0.2 s and 64 MiB, which every command paid at start)."""
    import subprocess
    import sys

    code = (
        "import argon2; calls = []; hash_ = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(a) or hash_(self, *a, **k)\n"
        "import cli, engine.access.users as u\n"
        "assert not calls, 'a password was hashed at import'\n"
        "assert u._dummy_hash().startswith('$argon2id$') and len(calls) == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).resolve().parents[2])


def test_uploaded_evidence_is_kept_with_its_hash_and_only_pdf_or_images_are_taken(store, factory, samr_office):
    import hashlib

    from lists import attachments

    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    write(store, acts.serve, "admin", D(2025, 5, 6), cycle_id=s["cycle"])
    pdf = b"%PDF-1.4\n% receipt\n"
    ref = write(store, attachments.store_upload, "张经办", "C:\\扫描\\缴款凭证.pdf", pdf)
    assert ref["name"] == "缴款凭证.pdf" and ref["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert ref["media_type"] == "application/pdf" and ref["size"] == len(pdf)
    for name, content, message in (
        ("空.pdf", b"", "是空的"),
        ("程序.pdf", b"MZ\x90\x00 not a pdf", "不是PDF、PNG或JPEG文件"),
        ("大.pdf", b"%PDF-" + b"0" * attachments.MAX_BYTES, "超过10 MB的上限"),
    ):
        with pytest.raises(ListError, match=message):
            write(store, attachments.store_upload, "张经办", name, content)
    filed = write(store, acts.file_objection, "张经办", 1, "罚款已缴清", [ref], D(2025, 5, 8))
    with store.read() as conn:
        (objection,) = conn.execute(sa.select(schema.objections)).mappings()
        assert objection["evidence"] == [ref] and objection["id"] == filed["objection_id"]
        stored = attachments.get(conn, ref["attachment_id"])
        assert bytes(stored["content"]) == pdf and stored["uploaded_by"] == "张经办"
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.attachments)).scalar_one() == 1


def test_the_audit_log_names_the_user_of_every_write(store, factory, samr_office, runner):
    from cli import cli

    s = scenario(store, factory, lists=("black",), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, samr_office)
    write(store, lifecycle.propose_from_cycle, s["cycle"])
    proposal = write(store, acts.serve, "张经办", D(2025, 5, 5), entry_id=1)
    write(store, acts.approve, "李审核", [proposal["proposal_id"]], D(2025, 5, 6))
    result = runner.invoke(cli, ["--db", store.url, "--json", "users", "audit", "--limit", "3"])
    assert result.exit_code == 0, result.output
    import json

    rows = json.loads(result.stdout)["entries"]
    assert [(r["actor"], r["action"], r["target"]) for r in rows[:2]] == [
        ("李审核", "approve.listing", "entry 1"),
        ("张经办", "propose.listing", "entry 1"),
    ]
    result = runner.invoke(cli, ["--db", store.url, "users", "audit", "--user", "张经办"])
    assert result.exit_code == 0 and "propose.listing" in result.output and "approve.listing" not in result.output
    result = runner.invoke(cli, ["--db", store.url, "users", "audit", "--user", "nobody"])
    assert result.exit_code == 1 and "There is no user 'nobody'" in result.output
