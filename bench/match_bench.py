"""Matching benchmark (issue 18): source rows with realistic noise matched against the demo register.

Builds the demo register (``--entities``, default 20,000) in a temporary SQLite database, gives 5% of its
entities a former name (曾用名) and 10% a 注册号 in the crosswalk, then generates ``--rows`` source rows:

- 10% organisation code only, 10% 注册号 only (through the crosswalk);
- name variants: without region prefix, without organisation form, 繁体, full-width brackets around the city,
  a former name, a typo in the 字号 (with and without the legal representative), a region given or not;
- 10% rows for entities that are not in the register (a 字号 no entity has).

Prints the precision and recall of automatic links, the share sent to review and rejected, and the time of the
name-only rows. Targets: precision >= 0.999, recall >= 0.90, at most 5% to review; 100,000 name-only rows against
1,000,000 entities in under 60 s.

Example: .venv/bin/python bench/match_bench.py --entities 20000 --rows 20000
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import random
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.pipeline.demo import build_register  # noqa: E402
from engine.register.codes import make_reg_no  # noqa: E402
from engine.register.matching import LINKED, REVIEW, NameIndex, Query, match_query  # noqa: E402
from engine.register.names import parse_name  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store import matching as mq  # noqa: E402
from policies.loader import base_matching  # noqa: E402

TRADITIONAL = str.maketrans(
    "东丰兴华发顺达诚润汇鸿宇贸易业门阳广联车汽机电纺织乐", "東豐興華發順達誠潤匯鴻宇貿易業門陽廣聯車汽機電紡織樂"
)
LOOKALIKE = dict(
    zip(
        "鑫源恒达盛华泰丰隆宏兴茂佳润顺安嘉宇联创信诚德成发瑞祥利通汇聚晟博远鸿海天新",
        "金原衡大胜化太峰龙红星贸家闰舜按家雨连闯心城得城法端翔力同会居升搏元洪每添欣",
    )
)


def variants(rng: random.Random, entity: dict, former: str | None) -> tuple[str, str, dict]:
    """(noise label, name, extra query fields) for a row naming ``entity``."""
    name = entity["name"]
    parts = parse_name(name)
    city = entity["region"][:4] + "00"
    region = rng.choice([entity["region"], entity["region"], city, None])
    extra = {"region": region}
    if rng.random() < 0.5:
        extra["legal_rep"] = entity["legal_rep"]
    kind = rng.choice(["plain", "no_region", "no_form", "traditional", "brackets", "former", "typo"])
    if kind == "former" and former:
        return kind, former, extra
    if kind == "no_region":
        return kind, parts.core + parts.form if parts.form != "公司" else name, extra
    if kind == "no_form":
        return kind, name.replace(parts.form, "") if parts.form else name, extra
    if kind == "traditional":
        return kind, name.translate(TRADITIONAL), extra
    if kind == "brackets":
        return kind, f"{parts.trade}（{name[:2]}）{parts.core[len(parts.trade) :]}{parts.form}", extra
    if kind == "typo" and parts.trade:
        i = rng.randrange(len(parts.trade))
        ch = parts.trade[i]
        typo = parts.trade[:i] + LOOKALIKE.get(ch, "某") + parts.trade[i + 1 :]
        return kind, name.replace(parts.trade, typo, 1), extra
    return "plain", name, extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    settings = base_matching()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{pathlib.Path(tmp) / 'match.db'}")
        store.init()
        t0 = time.perf_counter()
        build_register(store, entities=args.entities, seed=42, out=pathlib.Path(tmp) / "demo")
        print(f"register: {args.entities} entities in {time.perf_counter() - t0:.1f} s")
        with store.read() as conn:
            entities = [e for e in mq.name_candidates(conn) if e["legal_rep"]]
        formers: dict[str, str] = {}
        crosswalk, names = [], []
        for i, e in enumerate(entities):
            if rng.random() < 0.05:
                formers[e["code"]] = e["name"].replace(e["name"][-6:-4], "旧号", 1) if len(e["name"]) > 8 else None
                if formers[e["code"]]:
                    names.append({"code": e["code"], "name": formers[e["code"]], "used_until": None, "source": "bench"})
            if rng.random() < 0.10:
                crosswalk.append(
                    {"reg_no": make_reg_no(e["region"], i), "code": e["code"], "changed_on": None, "source": "bench"}
                )
        with store.transaction() as conn:
            mq.upsert_crosswalk(conn, crosswalk)
            mq.upsert_former_names(conn, names)
        rows: list[tuple[str, Query, str | None]] = []
        for _ in range(args.rows):
            roll = rng.random()
            if roll < 0.10:
                e = rng.choice(entities)
                org = e["code"][8:17]
                rows.append(("org_code", Query(code=f"{org[:8]}-{org[8]}" if rng.random() < 0.5 else org), e["code"]))
            elif roll < 0.20 and crosswalk:
                c = rng.choice(crosswalk)
                rows.append(("reg_no", Query(code=c["reg_no"]), c["code"]))
            elif roll < 0.30:
                e = rng.choice(entities)
                name = e["name"].replace(e["name"][3:5], "永无", 1)
                rows.append(("absent", Query(name=name, region=e["region"]), None))
            else:
                e = rng.choice(entities)
                kind, name, extra = variants(rng, e, formers.get(e["code"]))
                rows.append((kind, Query(name=name, **extra), e["code"]))
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
                outcomes[outcome] += 1
                by_kind[kind][outcome] += 1
        store.dispose()
    links = outcomes["linked_right"] + outcomes["linked_wrong"]
    present = sum(1 for _, _, truth in rows if truth)
    print(f"name index: {index.size} entities in {t_index:.1f} s")
    print(f"rows: {len(rows)} ({present} of entities in the register)")
    print(
        f"precision of automatic links: {outcomes['linked_right'] / max(1, links):.4f} ({outcomes['linked_wrong']} wrong)"
    )
    print(f"recall of automatic links:    {outcomes['linked_right'] / max(1, present):.4f}")
    print(f"sent to review:               {outcomes[REVIEW] / len(rows):.2%}")
    print(f"  of which equal-score ties:  {outcomes['review_tie'] / len(rows):.2%}")
    print(f"rejected:                     {outcomes['rejected'] / len(rows):.2%}")
    shared = collections.Counter((e["region"][:4], parse_name(e["name"]).key) for e in entities)
    dupes = sum(n for n in shared.values() if n > 1)
    print(f"register entities sharing their city and normalised name with another: {dupes / len(entities):.1%}")
    print(f"name-only rows: {n_names} in {t_names:.1f} s ({n_names / max(t_names, 1e-9):.0f} rows/s)")
    for kind, counts in sorted(by_kind.items()):
        total = sum(counts.values())
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {kind:<12} {total:>6}: {shown}")


if __name__ == "__main__":
    main()
