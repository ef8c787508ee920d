"""A deterministic demo register for 泉州, 福州 and 厦门: entities plus credit records, built from a seed.

``build_register`` generates entities with valid codes and records of every base kind, stores them in one
transaction and (optionally) writes them as ``entities.csv``/``records.csv`` in the import format.
``run_demo`` is the ``supervise demo`` pipeline: each stage appends a dict to ``result["stages"]``.

Tax evaluations are shaped so that the 2025 grades follow the 大庆 2019 proportions (domain.md §1.7):
A 2.27%, B 37.53%, M 50.46%, C 0.93%, D 8.81% of the evaluated entities.
"""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml

from engine.errors import StoreError
from engine.exports import write_csv
from engine.pipeline import cycles as cyc
from engine.pipeline.demo_matching import matching_stage
from engine.pipeline.demo_names import GIVEN, REGIONS, SURNAMES, NameMaker
from engine.pipeline.demo_people import people_stage
from engine.pipeline.demo_plan import plan_stage
from engine.pipeline.report import write_report
from engine.pipeline.results import DemoRun
from engine.register.codes import ENTITY_TYPE_LABELS, ENTITY_TYPES, USCC_CHARSET, make_person_id, make_uscc
from engine.register.entities import import_records
from engine.register.records import RecordKind
from engine.store import Store, audit, schema
from engine.store import entities as q
from engine.store import records as rq
from lists import lifecycle
from lists.publish import publish
from notices.issue import issue_for_cycle
from policies import base_record_kinds, pack_files

DEFAULT_AS_OF = dt.date(2026, 4, 30)
CHUNK = 5000
T = TypeVar("T")

# 泉州 dominates (the packs are written for it); 晋江 and 南安 are the big manufacturing counties.
REGION_WEIGHTS = [8, 9, 3, 3, 5, 5, 3, 7, 16, 9, 5, 4, 4, 4, 7, 4, 4]

# Tax grade targets of the evaluated entities (大庆 2019, domain.md §1.7).
GRADE_SHARES = {"A": 2.27, "B": 37.53, "M": 50.46, "C": 0.93, "D": 8.81}

TAX_VIOLATIONS = [
    "tax_crime",
    "evasion_referred",
    "evasion_over_threshold",
    "unpaid_after_deadline",
    "violent_refusal",
    "invoice_abuse",
    "false_preference_claim",
    "export_refund_suspended",
    "abnormal_household",
    "run_by_abnormal_responsible",
    "run_by_d_responsible",
    "major_tax_dishonest",
    "other_serious",
]
TAX_VIOLATION_WEIGHTS = [3, 4, 5, 20, 1, 12, 4, 2, 30, 4, 4, 6, 5]
PENALTY_FIELDS = [
    "food",
    "drugs",
    "quality",
    "consumer",
    "competition",
    "advertising",
    "pricing",
    "environment",
    "work_safety",
    "tax",
]
PENALTY_FIELD_WEIGHTS = [25, 8, 15, 12, 5, 8, 6, 8, 8, 5]
COMMITMENT_MATTERS = [
    "告知承诺制办理食品经营许可",
    "容缺受理补正材料",
    "信用修复承诺",
    "告知承诺制办理公共场所卫生许可",
    "行业自律承诺",
    "告知承诺制办理建筑业企业资质",
]
HONOURS = [
    ("守合同重信用企业", "{city}市市场监督管理局"),
    ("{city}市诚信示范企业", "{city}市发展和改革委员会"),
    ("{city}市文明单位", "{city}市精神文明建设委员会"),
    ("消费维权诚信单位", "{city}市消费者权益保护委员会"),
    ("{city}市优秀民营企业", "{city}市工商业联合会"),
]
# code, polarity, field, severity (negative only). Epidemic conduct feeds a city epidemic-conduct pack.
CONDUCT = [
    ("epidemic_donation", "positive", "epidemic", None),
    ("epidemic_supply_guarantee", "positive", "epidemic", None),
    ("epidemic_price_gouging", "negative", "epidemic", "serious"),
    ("epidemic_fake_supplies", "negative", "epidemic", "serious"),
    ("epidemic_prevention_violation", "negative", "epidemic", "general"),
    ("volunteer_service", "positive", "public_welfare", None),
    ("charity_donation", "positive", "public_welfare", None),
    ("wage_arrears", "negative", "labour", "general"),
    ("contract_breach", "negative", "contract", "minor"),
]


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _stream_draws(rng: random.Random, dept_type: str) -> None:
    """The draws an entity's name took from the register's stream before names had their own stream
    (:class:`NameMaker`): still taken, so that a seed's codes, grades and records stay those README.md and the docs
    show (a line of 20, a prefix of 4, a form, a 字号 of two from 38, ...)."""
    if dept_type == "91":
        rng.choice(range(20)), rng.choice(range(4)), rng.choices(range(3), [85, 12, 3]), rng.sample(range(38), 2)
    elif dept_type == "92":
        rng.choice(range(10)), rng.sample(range(38), 2), rng.choice(range(3))
    elif dept_type == "93":
        rng.choice(range(4)), rng.sample(range(38), 2)
    else:
        rng.choice(range(2 if dept_type == "51" else 3)), rng.choice(range(20)), rng.sample(range(38), 2)


def _weighted(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights)[0]


class _Generator:
    """Holds the seeded state (random stream, used codes, document counters) of one register."""

    def __init__(self, seed: int, as_of: dt.date):
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.year = as_of.year - 1  # latest evaluated tax year (evaluation runs in April for the prior year)
        self.span_start = dt.date(as_of.year - 3, 1, 1)
        self.new_start = max(dt.date(self.year, 1, 1), as_of - dt.timedelta(days=364))
        self.new_end = min(dt.date(self.year, 12, 31), as_of)
        self.codes: set[str] = set()
        self.doc_numbers: Counter = Counter()
        self.grades: Counter = Counter()
        self.names = NameMaker(seed)  # names draw from their own stream

    # -- entities -----------------------------------------------------------------------------
    def person_name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))

    def uscc(self, dept_type: str, region: str, established: dt.date) -> str:
        rng = self.rng
        while True:
            # Codes issued since the 2015 reform carry an 'MA' body; older bodies are the former 8-digit org code.
            if established.year >= 2016 and dept_type.startswith("9"):
                body = "MA" + "".join(rng.choice(USCC_CHARSET) for _ in range(6))
            else:
                body = f"{rng.randrange(10**8):08d}"
            code = make_uscc(dept_type, region, body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def person_code(self, region: str) -> str:
        while True:
            birth = _day(self.rng, dt.date(1955, 1, 1), dt.date(2000, 12, 31))
            code = make_person_id(region, birth, self.rng.randrange(1000))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def established(self, role: str) -> dt.date:
        """``role``: new (within the last year), old_a (operating 3+ years) or normal."""
        rng = self.rng
        if role == "new":
            return _day(rng, self.new_start, self.new_end)
        cap = dt.date(self.year - 3, 4, 30) if role == "old_a" else dt.date(self.year - 1, 6, 30)
        # Most entities are young: years back from the cap follow an exponential law (mean 6 years).
        year = max(1993, cap.year - int(rng.expovariate(1 / 6)))
        return min(cap, _day(rng, dt.date(year, 1, 1), dt.date(year, 12, 31)))

    def entity(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """One entity row plus generator facts about it (target grade, whether it is new)."""
        rng = self.rng
        region = _weighted(rng, list(REGIONS), REGION_WEIGHTS)
        district, _, city = REGIONS[region]
        roll = rng.random()
        dept_type = (
            "person"
            if roll < 0.02
            else "91"
            if roll < 0.62
            else "92"
            if roll < 0.95
            else "93"
            if roll < 0.97
            else rng.choice(("51", "52"))
        )
        if dept_type == "person":
            code = self.person_code(region)
            row: dict[str, Any] = {
                "code": code,
                "code_kind": "person",
                "name": self.person_name(),
                "entity_type": "natural_person",
                "region": region,
                "industry": None,
                "established_on": None,
                "legal_rep": None,
            }
            return row, {"grade": None, "new": False}
        # Who gets a tax evaluation: 个体工商户 only opted in from 2025, so fewer of them.
        evaluated = rng.random() < {"91": 0.97, "92": 0.6, "93": 0.95}.get(dept_type, 0.8)
        grade = self.next_grade() if evaluated else None
        # New entities are M whatever their score, so only M targets are new: the graded shares stay on target.
        new = grade == "M" and rng.random() < 0.35
        established = self.established("new" if new else "old_a" if grade == "A" else "normal")
        legal_rep = self.person_name()
        _stream_draws(rng, dept_type)
        name, industry = self.names.name(dept_type, region, legal_rep)
        code = self.uscc(dept_type, region, established)
        row = {
            "code": code,
            "code_kind": "uscc",
            "name": name,
            "entity_type": ENTITY_TYPES[code[:2]],
            "region": region,
            "industry": industry,
            "established_on": established,
            "legal_rep": legal_rep,
            # street/township (for the inspectors' recusal rule), derived from the code, not the random stream
            "extra": {"township": f"{region}{int(code[10:13], 36) % 12 + 1:03d}"},
        }
        return row, {"grade": grade, "new": new}

    def next_grade(self) -> str:
        """The grade furthest behind its share so far, so that the shares hold at any size, not just on average."""
        k = sum(self.grades.values()) + 1
        grade = max(GRADE_SHARES, key=lambda g: GRADE_SHARES[g] / 100 * k - self.grades[g])
        self.grades[grade] += 1
        return grade

    # -- records ------------------------------------------------------------------------------
    def records(self, entity: dict[str, Any], facts: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        rng = self.rng
        start = max(self.span_start, entity["established_on"] or self.span_start)
        out: list[tuple[str, dict[str, Any]]] = []
        grade = facts["grade"]
        if grade:
            out += self.tax(entity, grade, facts["new"])
        bad = grade in ("C", "D")
        person = entity["code_kind"] == "person"
        if grade == "A":  # A-grade taxpayers in the demo have a clean record elsewhere too
            return out + self.positive(entity, start, 0.3)
        if rng.random() < (0.3 if bad else 0.05 if person else 0.07):
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                out.append(("penalty", self.penalty(entity, start)))
        if rng.random() < 0.12:
            for _ in range(rng.choice((1, 1, 2))):
                out.append(("commitment", self.commitment(start, bad)))
        shop = entity["entity_type"] == "individual_business"
        if not person and rng.random() < (0.25 if bad else 0.08 if shop else 0.04):
            out.append(("abnormal_operation", self.abnormal(entity, start)))
        out += self.external_lists(entity, start, grade, person)
        if not person:
            out += self.positive(entity, start, 0.05 if grade == "B" else 0.01)
        if rng.random() < 0.05:
            # Epidemic conduct is spread over the whole span like the rest, so that the epidemic-conduct pack's
            # 12-month window finds some whatever the demo's as-of date.
            code, polarity, field, severity = rng.choice(CONDUCT)
            data = {"date": _day(rng, start, self.as_of), "code": code, "polarity": polarity, "field": field}
            if severity:
                data["severity"] = severity
            out.append(("conduct", data))
        return out

    def positive(self, entity: dict[str, Any], start: dt.date, chance: float) -> list[tuple[str, dict[str, Any]]]:
        """An honour with probability ``chance``."""
        rng = self.rng
        if rng.random() >= chance:
            return []
        title, authority = rng.choice(HONOURS)
        city = REGIONS[entity["region"]][2]
        return [
            (
                "honour",
                {
                    "date": _day(rng, start, self.as_of),
                    "title": title.format(city=city),
                    "authority": authority.format(city=city),
                },
            )
        ]

    def tax(self, entity: dict[str, Any], grade: str, new: bool) -> list[tuple[str, dict[str, Any]]]:
        """Evaluations for the last two years, shaped to give ``grade`` for the latest year."""
        rng, year = self.rng, self.year
        out: list[tuple[str, dict[str, Any]]] = []
        revenue = True
        score = rng.uniform(70, 89.9)
        if grade == "A":
            score = rng.uniform(90, 100)
        elif grade == "M":
            score, revenue = rng.uniform(70, 100), new and rng.random() < 0.7
        elif grade == "C":
            score = rng.uniform(40, 69.9)
        elif grade == "D":
            direct = rng.random() < 0.3
            score = rng.uniform(45, 95) if direct else rng.uniform(5, 39.9)
            if direct:
                code = _weighted(rng, TAX_VIOLATIONS, TAX_VIOLATION_WEIGHTS)
                data = {
                    "date": _day(rng, dt.date(year, 1, 1), dt.date(year, 12, 31)),
                    "code": code,
                    "ref": f"{REGIONS[entity['region']][1]}税稽处〔{year}〕{self.next_number('税稽处', year)}号",
                }
                if code in ("evasion_over_threshold", "unpaid_after_deadline"):
                    data["amount"] = round(rng.uniform(100_000, 3_000_000), 2)
                out.append(("tax_violation", data))
        previous = rng.uniform(40, 100) if grade != "D" else rng.uniform(0, 100)
        keep_previous = rng.random() < 0.92  # some entities have no evaluation for the year before
        if grade == "B" and rng.random() < 0.15:
            # A score of 90+, but blocked from A: a no-A condition this year, or a D (score under 40) last year.
            score = rng.uniform(90, 100)
            if rng.random() < 0.8:
                out.append(("no_a_condition", {"year": year, "code": rng.choice(("zero_vat_returns", "bad_books"))}))
            else:
                previous, keep_previous = rng.uniform(20, 39.9), True
        if grade == "A":
            previous = rng.uniform(80, 100)
        start_score = _weighted(rng, [100, 93, 90, None], [60, 15, 10, 15])
        out.append(("tax_evaluation", self.evaluation(year, score, revenue, start_score)))
        if not new and keep_previous:
            out.append(("tax_evaluation", self.evaluation(year - 1, previous, rng.random() < 0.85, start_score)))
        return out

    @staticmethod
    def evaluation(year: int, score: float, revenue: bool, start_score: float | None) -> dict[str, Any]:
        data = {"year": year, "score": round(score, 1), "has_revenue": revenue}
        if start_score is not None:
            data["start_score"] = start_score
        return data

    def next_number(self, prefix: str, year: int) -> int:
        # Document numbers run per issuing prefix and year, like a real 文号 register.
        self.doc_numbers[prefix, year] += 1
        return self.doc_numbers[prefix, year]

    def penalty(self, entity: dict[str, Any], start: dt.date) -> dict[str, Any]:
        rng = self.rng
        district, short, city = REGIONS[entity["region"]]
        day = _day(rng, start, self.as_of)
        field = _weighted(rng, PENALTY_FIELDS, PENALTY_FIELD_WEIGHTS)
        severity = _weighted(rng, ["minor", "general", "serious"], [35, 55, 10])
        if field == "environment":
            prefix, authority = f"{short}环罚", f"{city}市生态环境局"
        elif field == "work_safety":
            prefix, authority = f"{short}应急罚", f"{city}市应急管理局"
        elif field == "tax":
            prefix, authority = f"{short}税稽罚", f"国家税务总局{city}市税务局稽查局"
        elif rng.random() < 0.6:
            prefix, authority = f"{short}市监罚", f"{city}市市场监督管理局"
        else:
            prefix, authority = f"{district[0]}市监罚", f"{district}市场监督管理局"
        low, high = {"minor": (0, 5_000), "general": (5_000, 100_000), "serious": (100_000, 2_000_000)}[severity]
        data = {
            "date": day,
            "severity": severity,
            "decision_no": f"{prefix}〔{day.year}〕{self.next_number(prefix, day.year)}号",
            "authority": authority,
            "field": field,
            "amount": float(rng.randrange(low, high + 1, 100)),
        }
        if rng.random() < 0.75:
            paid = day + dt.timedelta(days=rng.randint(5, 60))
            if paid <= self.as_of:
                data["fulfilled_on"] = paid
        if rng.random() < 0.01:
            data["annulled_on"] = _day(rng, day, self.as_of)
        return data

    def commitment(self, start: dt.date, bad: bool) -> dict[str, Any]:
        rng = self.rng
        day = _day(rng, start, self.as_of)
        data: dict[str, Any] = {
            "date": day,
            "due_on": day + dt.timedelta(days=rng.choice((30, 60, 90, 180))),
            "matter": rng.choice(COMMITMENT_MATTERS),
        }
        if data["due_on"] <= self.as_of:  # later due dates are still pending: no kept value yet
            data["kept"] = rng.random() >= (0.4 if bad else 0.12)
        return data

    def abnormal(self, entity: dict[str, Any], start: dt.date) -> dict[str, Any]:
        rng = self.rng
        cause = _weighted(
            rng,
            ["annual_report_missing", "unreachable_address", "info_not_published", "false_info", "other"],
            [70, 20, 5, 3, 2],
        )
        if cause == "annual_report_missing":
            # Listed in July, after the 30 June annual-report deadline of a year the entity existed for.
            years = [y for y in range(start.year + 1, self.as_of.year + 1) if dt.date(y, 7, 20) <= self.as_of]
            day = _day(rng, dt.date(y := rng.choice(years), 7, 1), dt.date(y, 7, 20)) if years else start
        else:
            day = _day(rng, start, self.as_of)
        data = {"date": day, "cause": cause}
        if rng.random() < 0.45 and day < self.as_of:
            data["removed_on"] = _day(rng, day + dt.timedelta(days=1), min(self.as_of, day + dt.timedelta(days=300)))
        return data

    def external_lists(
        self, entity: dict[str, Any], start: dt.date, grade: str | None, person: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        rng = self.rng
        district, _, city = REGIONS[entity["region"]]
        out = []
        if rng.random() < (0.05 if person else 0.012):
            court = rng.choice((f"{district}人民法院", f"{city}市中级人民法院"))
            out.append(self.listing(start, "court_dishonest", court, 0.3))
        if grade == "D" and rng.random() < 0.15:
            out.append(self.listing(start, "major_tax_dishonest", f"国家税务总局{city}市税务局", 0.1))
        if not person and rng.random() < (0.03 if grade in ("C", "D") else 0.003):
            out.append(self.listing(start, "serious_illegal", f"{city}市市场监督管理局", 0.2))
        return out

    def listing(self, start: dt.date, name: str, authority: str, ended: float) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        day = _day(rng, start, self.as_of)
        data = {"date": day, "list": name, "authority": authority}
        if rng.random() < ended and day < self.as_of:
            data["ended_on"] = _day(rng, day + dt.timedelta(days=1), self.as_of)
        return "external_list", data


def build_register(
    store: Store,
    entities: int = 20000,
    seed: int = 42,
    as_of: dt.date = DEFAULT_AS_OF,
    out: str | pathlib.Path | None = None,
    with_records: bool = True,
) -> dict[str, Any]:
    """Generate and store a register of ``entities`` entities with their records (one transaction).

    Deterministic for a given (entities, seed, as_of). With ``out``, also writes ``entities.csv`` and
    ``records.csv`` there in the import format. Returns counts by entity type, record kind and target grade.
    ``with_records=False`` stores the entities alone (the matching benchmark's large registers).
    """
    kinds = base_record_kinds()
    gen = _Generator(seed, as_of)
    rows: list[dict[str, Any]] = []
    records: list[tuple[int, str, dt.date, str, dict[str, Any]]] = []  # (entity index, kind, date, key, data)
    for index in range(entities):
        row, facts = gen.entity()
        rows.append(row)
        for kind, data in gen.records(row, facts) if with_records else ():
            # Same parsing as an import, so the stored data equals what importing records.csv would store.
            date, key, payload, problems = kinds[kind].validate(data)
            if problems:  # a generator bug, not user input
                raise AssertionError(f"demo generated an invalid {kind} record {data}: {problems}")
            records.append((index, kind, date, key, payload))

    inserted = 0
    with store.transaction() as conn:
        # Never mix demo entities into a real register: the database may only hold this same demo already.
        existing = q.count(conn, schema.entities)
        if existing and existing > len(q.entity_ids(conn, [r["code"] for r in rows])):
            raise StoreError(
                f"The database {store.display_url()} already holds {existing:,} entities that this demo "
                f"(seed {seed}, {entities:,} entities) did not create; run the demo on a new database, "
                f"e.g. --db sqlite:///out/demo.db."
            )
        for i in range(0, len(rows), CHUNK):
            q.upsert_entities(conn, rows[i : i + CHUNK])
        ids = q.entity_ids(conn, [r["code"] for r in rows])
        for i in range(0, len(records), CHUNK):
            inserted += rq.insert_records(
                conn,
                [
                    {"entity_id": ids[rows[idx]["code"]], "kind": kind, "date": date, "natural_key": key, "data": data}
                    for idx, kind, date, key, data in records[i : i + CHUNK]
                ],
                source="demo",
            )
        audit(
            conn,
            "demo",
            "demo_register",
            f"seed={seed}",
            entities=entities,
            records=len(records),
            as_of=as_of.isoformat(),
        )

    files = _write_csv(pathlib.Path(out), rows, records, kinds) if out is not None else []
    by_kind = Counter(r[1] for r in records)
    return {
        "entities": len(rows),
        "seed": seed,
        "as_of": as_of.isoformat(),
        "by_type": dict(Counter(r["entity_type"] for r in rows).most_common()),
        "records": len(records),
        "records_inserted": inserted,
        "by_kind": {k: by_kind[k] for k in kinds if by_kind[k]},
        "tax_year": gen.year,
        "grade_targets": {g: gen.grades[g] for g in GRADE_SHARES},
        "files": [str(f) for f in files],
    }


def _write_csv(
    out: pathlib.Path, rows: list[dict[str, Any]], records: list[tuple], kinds: dict[str, RecordKind]
) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    # UTF-8 with BOM: Excel and WPS then open the Chinese text correctly; the importer accepts both.
    entities_csv = out / "entities.csv"
    columns = ["code", "name", "entity_type", "region", "industry", "established_on", "legal_rep"]
    with entities_csv.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, "township"])
        for r in rows:
            writer.writerow(
                ["" if r[c] is None else r[c] for c in columns] + [((r.get("extra") or {}).get("township")) or ""]
            )
    # The entity goes in `entity_code`, because some kinds have a field called `code` of their own.
    used = {r[1] for r in records}
    fields = list(dict.fromkeys(f for name, kind in kinds.items() if name in used for f in kind.fields))
    records_csv = out / "records.csv"
    with records_csv.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entity_code", "kind", *fields])
        for idx, kind, _, _, data in records:
            writer.writerow([rows[idx]["code"], kind, *[_cell(data.get(f)) for f in fields]])
    return [entities_csv, records_csv]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_demo(
    store: Store,
    entities: int = 20000,
    seed: int = 42,
    out: str | pathlib.Path | None = None,
    as_of: dt.date = DEFAULT_AS_OF,
) -> dict[str, Any]:
    """The demo pipeline: create the schema, build the register, then later stages (each appends to ``stages``).

    A stage is ``{"name", "title", "lines": [human-readable lines], ...data}``.
    """
    init = store.init()
    register = build_register(store, entities, seed, as_of, out)
    types = ", ".join(f"{ENTITY_TYPE_LABELS.get(t, t)} {n:,}" for t, n in register["by_type"].items())
    kinds = ", ".join(f"{k} {n:,}" for k, n in register["by_kind"].items())
    grades = ", ".join(f"{g} {n:,}" for g, n in register["grade_targets"].items())
    lines = [
        f"{register['entities']:,} entities: {types}",
        f"{register['records']:,} records ({register['records_inserted']:,} new): {kinds}",
        f"{register['tax_year']} tax grades the records are shaped for: {grades}",
    ]
    if register["files"]:
        lines.append(f"input files: {', '.join(register['files'])}")
    stages = [
        {"name": "register", "title": f"Register (seed {seed}, as of {as_of.isoformat()})", "lines": lines, **register}
    ]
    stages += supervision_stages(store, as_of, seed, pathlib.Path(out) if out else None)
    return DemoRun({"database": init["database"], "as_of": as_of.isoformat(), "seed": seed, "stages": stages})


DEMO_CITIES = (("3505", "泉州", "泉"), ("3501", "福州", "榕"), ("3502", "厦门", "厦"))  # the demo register's cities


def demo_authorities(pack: dict[str, Any]) -> list[dict[str, str]]:
    """One issuing authority per demo city for a pack written for 泉州: its authority, short form and document
    prefix with the city's name (福州市市场监督管理局, 榕市监信 ...)."""
    name, short = pack.get("authority") or "", pack.get("authority_short") or ""
    prefix = pack.get("document_prefix") or short
    out = []
    for region, city, abbr in DEMO_CITIES:

        def local(text: str, city: str = city, abbr: str = abbr) -> str:
            return text.replace("泉州", city) if "泉州" in text else text.replace("泉", abbr, 1)

        out.append({"region": region, "name": local(name), "short": local(short), "document_prefix": local(prefix)})
    return out


def demo_pack(pack_id: str, out_dir: pathlib.Path) -> pathlib.Path:
    """The shipped pack with :func:`demo_authorities` as its ``authorities`` and the three cities as its
    jurisdiction, written to ``out_dir`` (the demo's register holds entities of 泉州, 福州 and 厦门; each city's
    notices come from its own authority)."""
    raw = yaml.safe_load(pack_files()[pack_id].read_text(encoding="utf-8"))
    raw["authorities"] = demo_authorities(raw)
    if raw.get("jurisdiction") == "泉州市":  # the site header and the report name the cities the pack now covers
        raw["jurisdiction"] = "、".join(f"{city}市" for _region, city, _abbr in DEMO_CITIES)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{pack_id}.yaml"
    path.write_text(
        "# Written by supervise demo: the shipped pack with one issuing authority per demo city.\n"
        + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, width=1000),
        encoding="utf-8",
    )
    return path


DEMO_CYCLES = (  # (pack, period, as-of offset): the previous tax year under the 2020 version (2014 measures as amended by 2020 No.15) first
    ("tax-credit", "prev-year", -365),
    ("tax-credit", "year", 0),
    ("market-credit-risk", "day", 0),
    ("bank-tax", "year", 0),
    ("epidemic-conduct", "day", 0),
)


def supervision_stages(store: Store, as_of: dt.date, seed: int, out: pathlib.Path | None) -> list[dict[str, Any]]:
    """Run every stage of a supervision cycle on the demo register: cycles, report, inspection plan, list
    lifecycle, notices and the public site. Each stage reads what the previous one stored."""
    stages: list[dict[str, Any]] = []
    existing = cyc.list_cycles(store)
    if existing:
        return [
            {
                "name": "cycles",
                "title": "Supervision stages",
                "lines": [
                    f"already run on this database ({len(existing)} cycles); 'supervise cycle list' shows them. "
                    f"Use a new database (or delete it) to run the demo stages again."
                ],
            }
        ]
    cycle_ids: dict[str, int] = {}
    lines = []
    pack_dir = out / "packs" if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="supervise-demo-packs-"))
    pack_paths = {pack: demo_pack(pack, pack_dir) for pack in dict.fromkeys(p for p, _, _ in DEMO_CYCLES)}
    for pack, kind, offset in DEMO_CYCLES:
        day = as_of + dt.timedelta(days=offset)
        if kind == "day":
            period = day.isoformat()
        else:
            period = str(day.year - 1)
            day = dt.date(day.year, 4, 30)
        r = cyc.run_cycle(store, str(pack_paths[pack]), period, as_of=day, actor="demo")
        cycle_ids[f"{pack}@{period}"] = r["cycle"]
        served = _serve_and_advance(store, r["cycle"], day)
        tiers = ", ".join(f"{t['tier']} {t['entities']:,}" for t in r["tiers"])
        proposed = ", ".join(f"{k} {v}" for k, v in (r.get("lists") or {}).get("proposed", {}).items()) or "none"
        lines.append(
            f"cycle {r['cycle']}: {pack}@{r['version']} period {period}: {tiers}; "
            f"{r['expected_inspections']:,} expected checks; list proposals: {proposed} "
            f"({r['distinct_vectors']} distinct evaluations, {r['wall_seconds']:.1f}s); {served}"
        )
    tax_cycle = cycle_ids[f"tax-credit@{as_of.year - 1}"]
    replay = cyc.replay_cycle(store, tax_cycle)
    lines.append(
        f"replay of cycle {tax_cycle}: {'identical' if replay['identical'] else 'DIFFERENT'} "
        f"({replay['entities']:,} decisions)"
    )
    stages.append(
        {"name": "cycles", "title": "Supervision cycles (4 policy packs)", "lines": lines, "cycles": cycle_ids}
    )
    if out is not None:
        rep = write_report(store, tax_cycle, out / "report")
        stages.append(
            {
                "name": "report",
                "title": "Cycle report",
                "lines": [f"{out / 'report' / 'index.html'}"],
                "report": str(out / "report"),
            }
        )
        del rep
    stages += _plan_stage(store, cycle_ids, seed, as_of, out)
    stages += _lists_and_notices(store, cycle_ids, as_of, out, list(pack_paths.values()))
    return stages


CURED, ANNULLED = 5, 3  # abnormal-list entries cured and black-list penalties annulled by the demo's corrections


def corrections_stage(store: Store, market_cycle: int, day: dt.date, out: pathlib.Path | None) -> dict[str, Any]:
    """Records that change: a correction file in which a few listed entities cured their abnormal operation and
    a few serious penalties were annulled, imported as the bureau's export would be; the earlier market cycle
    still replays identically, and ``lists advance`` ends the entries whose basis disappeared."""
    with store.read() as conn:
        picked: list[tuple[str, dict[str, Any], str]] = []  # (list, record, end field)
        for name, count, end_field in (("abnormal", CURED, "removed_on"), ("black", ANNULLED, "annulled_on")):
            view = lifecycle.show(conn, name, day)
            ids = [e["id"] for e in view.entries if e["pack_id"] == "market-credit-risk"]
            ids = ids[: min(count, len(ids) // 3)]  # most entries stay: the lists and the site still show them
            entries = lifecycle.load(conn, ids)
            refs = [ref["id"] for e in entries for ref in (e.data.get("records") or [])[:1]]
            current = rq.current_by_id(conn, refs)
            picked.extend((name, current[i], end_field) for i in refs if i in current)
        codes = q.codes_and_regions(conn, {rec["entity_id"] for _, rec, _ in picked} if picked else set())
    rows = []
    for _name, rec, end_field in picked:
        data = dict(rec["data"] or {})
        start = dt.date.fromisoformat(str(data.get("date") or rec["date"]))
        data[end_field] = max(start, day - dt.timedelta(days=5)).isoformat()
        rows.append({"code": codes[rec["entity_id"]]["code"], "kind": rec["kind"], **data})
    lines: list[str] = []
    if not rows:
        return {"name": "corrections", "title": "Records that change", "lines": ["no listed entry to correct"]}
    folder = out if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="supervise-demo-"))
    path = folder / "corrections.csv"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(path, columns, ([_cell(r.get(c)) for c in columns] for r in rows))
    report = import_records(store, path, base_record_kinds(), actor="demo")
    lines.append(
        f"{path}: {report.inserted} new, {report.updated} corrected, {report.unchanged} unchanged "
        f"(abnormal operation removed, penalties annulled); 'supervise records history CODE' shows both versions"
    )
    replay = cyc.replay_cycle(store, market_cycle)
    lines.append(
        f"replay of cycle {market_cycle} after the corrections: "
        f"{'identical' if replay['identical'] else 'DIFFERENT'} (it decided with what was known when it ran)"
    )
    with store.transaction() as conn:
        adv = lifecycle.advance(conn, day, "demo")
    lines.append(
        f"advance to {day}: {len(adv.get('cured') or [])} abnormal-list entries removed (cause cured), "
        f"{len(adv.get('revoked') or [])} black-list entries revoked (penalty annulled), measures lifted"
    )
    return {"name": "corrections", "title": "Records that change", "lines": lines}


def _serve_and_advance(store: Store, cycle_id: int, day: dt.date) -> str:
    """Serve the cycle's pre-listing notices a few days after it ran and let the objection windows pass."""
    with store.transaction() as conn:
        served = lifecycle.serve(conn, day + dt.timedelta(days=6), "demo", cycle_id=cycle_id)
        adv = lifecycle.advance(conn, day + dt.timedelta(days=30), "demo")
    return (
        f"{len(served['served'])} pre-listing notices served, {len(adv['listed'])} entries listed by "
        f"{day + dt.timedelta(days=30)}"
    )


def _plan_stage(
    store: Store, cycle_ids: dict[str, int], seed: int, as_of: dt.date, out: pathlib.Path | None
) -> list[dict[str, Any]]:
    return [plan_stage(store, cycle_ids[f"market-credit-risk@{as_of.isoformat()}"], seed, as_of, out)]


def _lists_and_notices(
    store: Store, cycle_ids: dict[str, int], as_of: dt.date, out: pathlib.Path | None, packs: list[pathlib.Path]
) -> list[dict[str, Any]]:
    served_on = as_of + dt.timedelta(days=6)
    later = as_of + dt.timedelta(days=45)
    with store.transaction() as conn:
        adv = lifecycle.advance(conn, later, "demo")
    lines = [
        f"advance to {later}: {len(adv['listed'])} listed, {len(adv['expired'])} expired",
        "see 'supervise lists show black --as-of " + later.isoformat() + "' and 'supervise lists history CODE'",
    ]
    stages = [{"name": "lists", "title": "List lifecycle", "lines": lines}]
    stages.append(corrections_stage(store, cycle_ids[f"market-credit-risk@{as_of.isoformat()}"], later, out))
    stages.append(people_stage(store, packs, later))
    stages.append(matching_stage(store, later, out))
    if out is None:
        return stages
    n_lines = []
    for name, cid in cycle_ids.items():
        if name == f"tax-credit@{as_of.year - 2}" or name.startswith("tax-credit@" + str(as_of.year - 2)):
            continue
        formats = ("html", "txt", "pdf") if name.startswith("epidemic-conduct") else ("html", "txt")
        report = issue_for_cycle(
            store, cid, out=out / "notices" / name.split("@")[0], formats=formats, as_of=served_on, actor="demo"
        )
        data = report.as_dict()
        kinds = {
            k: data["issued_by_kind"].get(k, 0) + data["already_by_kind"].get(k, 0)
            for k in {**data["issued_by_kind"], **data["already_by_kind"]}
        }
        if not kinds:
            continue
        n_lines.append(
            f"{name}: {data['issued_count'] + data['already_count']} notices "
            f"({', '.join(f'{k} {v}' for k, v in kinds.items())}) "
            f"as {'/'.join(formats)} in {out / 'notices' / name.split('@')[0]}"
        )
    stages.append({"name": "notices", "title": "Notices", "lines": n_lines})
    with store.transaction() as conn:
        site = publish(conn, out / "site", later, "demo")
    counts = site.counts or {}
    stages.append(
        {
            "name": "site",
            "title": f"Public site as of {later}",
            "lines": [
                f"{out / 'site' / 'index.html'}: "
                + (", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "")
            ],
        }
    )
    return stages
