"""Matching benchmark (issue 18): source rows with realistic noise matched against the demo register.

Builds the demo register's entities (``--entities``, default 20,000; seed 42, without records) in a temporary
SQLite database, gives 5% of its entities a former name (曾用名, with the day it was used until) and 10% a 注册号
in the crosswalk, then generates ``--rows`` source rows (seed ``--seed``):

- 10% organisation code only (with or without the hyphen), 10% 注册号 only (through the crosswalk);
- 10% rows for entities that are not in the register: a name the demo's own name maker draws, whose 字号 no
  entity of that city has (so some are one character away from a registered one, as real names are);
- 70% name variants of a registered entity: as registered, without region prefix, without organisation form,
  繁体 (OpenCC s2t), the city in full-width brackets, a former name, a typo (one character of the 字号 or of the
  industry words replaced), an entity whose 字号 another entity of its city also has in another district (the
  row names its own district or not), a 分公司 or its company. Each row gives the entity's district, its city or
  no region (2:1:1) and, in half the rows, the legal representative.

Prints the precision and recall of automatic links, the share sent to review and rejected, the time of the
name-only rows (with the index build apart) and the load average. Targets: precision >= 0.999, recall >= 0.90,
at most 5% to review; 100,000 name-only rows against 1,000,000 entities in under 60 s.

Example: .venv/bin/python bench/match_bench.py --entities 20000 --rows 20000
         .venv/bin/python bench/match_bench.py --entities 1000000 --rows 142858  (100,000 name-only rows)
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import pathlib
import random
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import opencc  # type: ignore[import-untyped]  # noqa: E402

from engine.pipeline.demo import build_register  # noqa: E402
from engine.pipeline.demo_names import REGIONS, TRADE_CHARS, NameMaker  # noqa: E402
from engine.register.codes import make_reg_no  # noqa: E402
from engine.register.matching import LINKED, REVIEW, NameIndex, Query, match_query  # noqa: E402
from engine.register.names import parse_name  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store import matching as mq  # noqa: E402
from policies.loader import base_matching  # noqa: E402

TO_TRADITIONAL = opencc.OpenCC("s2t")
# Characters typed for another of the same sound (the commonest typo of a name typed with pinyin).
HOMOPHONES = dict(
    zip(
        "鑫源恒达盛华泰丰隆宏兴茂佳润顺安嘉宇联创信诚德成发瑞祥利通汇聚晟博远鸿海天新金银铭凯旭东升昌永富贵和美",
        "新原衡大胜化太峰龙红星贸家闰舜按家雨连闯心城得城法端翔力同会居升搏元洪每添欣今银明楷序冬生长勇付桂合每",
    )
)
NAME_KINDS = {
    "plain": 18,
    "no_region": 12,
    "no_form": 12,
    "traditional": 10,
    "brackets": 10,
    "former": 8,
    "typo": 10,
    "shared_trade": 12,
    "branch": 8,
}


def typo(rng: random.Random, name: str) -> str:
    """The name with one character of its 字号 (two times in three) or of its industry words replaced."""
    parts = parse_name(name)
    core = parts.core
    at = name.find(core)
    if at < 0 or len(core) < 2:
        return name
    span = (
        range(len(parts.trade))
        if rng.random() < 2 / 3 or len(core) == len(parts.trade)
        else range(len(parts.trade), len(core))
    )
    i = rng.choice(list(span))
    ch = core[i]
    new = HOMOPHONES.get(ch) if rng.random() < 0.7 else None
    while not new or new == ch:
        new = rng.choice(TRADE_CHARS)
    return name[: at + i] + new + name[at + i + 1 :]


def variant(rng: random.Random, kind: str, e: dict, former: dict[str, tuple[str, dt.date]]) -> str:
    """The name a row of this noise ``kind`` gives for entity ``e``."""
    name = e["name"]
    parts = parse_name(name)
    city = REGIONS[e["region"]][2]
    if kind == "no_region":
        return parts.core + parts.form if "分公司" not in name else name.replace(f"{city}市", "", 1)
    if kind == "no_form":
        return (
            name[: -len("有限责任公司")]
            if name.endswith("有限责任公司")
            else name.replace(parts.form, "")
            if parts.form and "分公司" not in name
            else name
        )
    if kind == "traditional":
        return TO_TRADITIONAL.convert(name)
    if kind == "brackets":
        return (
            f"{parts.trade}（{city}）{parts.core[len(parts.trade) :]}{parts.form}" if parts.form != "分公司" else name
        )
    if kind == "former":
        return former[e["code"]][0]
    if kind == "typo":
        return typo(rng, name)
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    settings = base_matching()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{pathlib.Path(tmp) / 'match.db'}")
        store.init()
        t0 = time.perf_counter()
        build_register(store, entities=args.entities, seed=42, with_records=False)
        print(f"register: {args.entities:,} entities stored in {time.perf_counter() - t0:.1f} s")
        with store.read() as conn:
            entities = mq.name_candidates(conn)
        by_code = {e["code"]: e for e in entities}
        trades = collections.defaultdict(set)  # city -> 字号 of the register
        by_trade = collections.defaultdict(list)  # (city, 字号) -> entities
        for e in entities:
            parts = parse_name(e["name"])
            trades[e["region"][:4]].add(parts.trade)
            by_trade[(e["region"][:4], parts.trade)].append(e)
        shared = [g for g in by_trade.values() if len({x["region"] for x in g}) > 1]
        branches = [e for e in entities if e["name"].endswith("分公司")]
        # Former names: a 字号 of its own (names are unique when given), used until a day of the past.
        namer = NameMaker(args.seed + 1000)
        former: dict[str, tuple[str, dt.date]] = {}
        crosswalk, names = [], []
        for i, e in enumerate(entities):
            if rng.random() < 0.05 and e["legal_rep"]:
                old = e["name"]
                for _ in range(20):
                    old, _ = namer.name("91" if "公司" in e["name"] else "92", e["region"], e["legal_rep"])
                    if parse_name(old).trade not in trades[e["region"][:4]]:
                        break
                until = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(5000))
                former[e["code"]] = (old, until)
                trades[e["region"][:4]].add(parse_name(old).trade)
                names.append({"code": e["code"], "name": old, "used_until": until, "source": "bench"})
            if rng.random() < 0.10:
                crosswalk.append(
                    {"reg_no": make_reg_no(e["region"], i), "code": e["code"], "changed_on": None, "source": "bench"}
                )
        with store.transaction() as conn:
            mq.upsert_crosswalk(conn, crosswalk)
            mq.upsert_former_names(conn, names)
        with_former = [by_code[c] for c in former]
        kinds, weights = list(NAME_KINDS), list(NAME_KINDS.values())
        rows: list[tuple[str, Query, str | None]] = []
        for _ in range(args.rows):
            roll = rng.random()
            if roll < 0.10:
                e = rng.choice(entities)
                org = e["code"][8:17]
                rows.append(("org_code", Query(code=f"{org[:8]}-{org[8]}" if rng.random() < 0.5 else org), e["code"]))
                continue
            if roll < 0.20 and crosswalk:
                c = rng.choice(crosswalk)
                rows.append(("reg_no", Query(code=c["reg_no"]), c["code"]))
                continue
            if roll < 0.30:
                region = rng.choice(list(REGIONS))
                for _ in range(50):
                    name, _ = namer.name(rng.choice(("91", "91", "92")), region, rng.choice("陈林黄") + "某")
                    if parse_name(name).trade not in trades[region[:4]]:
                        break
                given = rng.choice([region, region, region[:4] + "00", None])
                rows.append(("absent", Query(name=name, region=given), None))
                continue
            kind = rng.choices(kinds, weights)[0]
            if kind == "former" and with_former:
                e = rng.choice(with_former)
            elif kind == "shared_trade" and shared:
                e = rng.choice(rng.choice(shared))
            elif kind == "branch" and branches:
                b = rng.choice(branches)
                parent = parse_name(b["name"])
                e = (
                    b
                    if rng.random() < 0.5
                    else next(
                        (x for x in by_trade[(b["region"][:4], parent.trade)] if not x["name"].endswith("分公司")), b
                    )
                )
            else:
                kind = "plain" if kind in ("former", "shared_trade", "branch") else kind
                e = rng.choice(entities)
            name = variant(rng, kind, e, former)
            region = rng.choice([e["region"], e["region"], e["region"][:4] + "00", None])
            rep = e["legal_rep"] if rng.random() < 0.5 else None
            rows.append((kind, Query(name=name, region=region, legal_rep=rep), e["code"]))
        with store.read() as conn:
            t1 = time.perf_counter()
            index = NameIndex(mq.name_candidates(conn))
            t_index = time.perf_counter() - t1
            outcomes: collections.Counter = collections.Counter()
            by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            t_names = 0.0
            n_names = 0
            for kind, query, truth in rows:
                t = time.perf_counter()
                out = match_query(conn, query, settings, index)
                if query.code is None:
                    t_names += time.perf_counter() - t
                    n_names += 1
                outcome = out["outcome"]
                if outcome == REVIEW and "得分相同" in out["why"]:
                    outcomes["review_tie"] += 1
                if outcome == LINKED:
                    outcome = "linked_right" if out["code"] == truth else "linked_wrong"
                    if outcome == "linked_wrong" and os.environ.get("BENCH_SHOW"):
                        print("WRONG", kind, query, truth, out["code"], out["explanation"])
                elif os.environ.get("BENCH_SHOW") and truth and kind == os.environ["BENCH_SHOW"]:
                    print(outcome, kind, query, by_code[truth]["name"], out["why"], out["candidates"][:2])
                outcomes[outcome] += 1
                by_kind[kind][outcome] += 1
        store.dispose()
    links = outcomes["linked_right"] + outcomes["linked_wrong"]
    present = sum(1 for _, _, truth in rows if truth)
    print(f"name index: {index.size:,} entities in {t_index:.1f} s")
    print(f"rows: {len(rows):,} ({present:,} of entities in the register)")
    print(
        f"precision of automatic links: {outcomes['linked_right'] / max(1, links):.4f} "
        f"({outcomes['linked_wrong']} wrong of {links:,})"
    )
    print(f"recall of automatic links:    {outcomes['linked_right'] / max(1, present):.4f}")
    print(f"sent to review:               {outcomes[REVIEW] / len(rows):.2%}")
    print(f"  of which equal-score ties:  {outcomes['review_tie'] / len(rows):.2%}")
    print(f"rejected:                     {outcomes['rejected'] / len(rows):.2%}")
    keys = collections.Counter((e["region"][:4], parse_name(e["name"]).key) for e in entities)
    dupes = sum(n for n in keys.values() if n > 1)
    print(f"register entities sharing their city and normalised name with another: {dupes / len(entities):.1%}")
    print(
        f"register entities sharing their city and 字号 with another: {sum(len(g) for g in by_trade.values() if len(g) > 1) / len(entities):.1%}"
    )
    print(
        f"name-only rows: {n_names:,} in {t_names:.1f} s ({n_names / max(t_names, 1e-9):,.0f} rows/s); "
        f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for kind, counts in sorted(by_kind.items()):
        total = sum(counts.values())
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {kind:<12} {total:>7,}: {shown}")


if __name__ == "__main__":
    main()
