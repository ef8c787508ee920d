"""The authorities (offices) a console user belongs to: department + region prefix + the packs it runs.

They are pack data, not a table of their own: every entry of a pack's ``authorities`` (region, name, short,
document_prefix; engine/authorities.py) is the authority of that region for that pack, and one department naming
itself in several packs for one region (国家税务总局泉州市税务局 in tax-credit and bank-tax) is one office running
both. Its id is the entry's ``short`` (泉税, 泉市监), which is also what ``supervise users add --authority`` takes
(the full name works too). A pack without ``authorities`` has one authority for every region (its ``authority``
and ``authority_short``): an office with an empty region prefix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import policies
from engine.access import AccessRefused
from engine.regions import region_label
from engine.results import DictResult

# The region of an office no pack names any more: a prefix no division code begins with, so it covers nothing.
NOWHERE = "\uffff"


@dataclasses.dataclass(frozen=True)
class Office:
    id: str
    name: str
    region: str  # GB/T 2260 prefix ("3505"); "" for every region
    packs: tuple[str, ...]

    @property
    def region_name(self) -> str:
        """泉州市 for 3505 (the prefix padded to a division code), 全部地区 for every region."""
        if not self.region:
            return "全部地区"
        if self.unknown:
            return "（无：现行政策包未列明该机关）"
        return region_label(self.region.ljust(6, "0"), full=False)

    @property
    def unknown(self) -> bool:
        """An office a user was given that no pack names now (:data:`NOWHERE`): it covers no region."""
        return self.region == NOWHERE

    def covers(self, region: str | None) -> bool:
        return str(region or "").startswith(self.region) if self.region else True

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "region_name": self.region_name,
            "packs": list(self.packs),
        }


def offices(packs: Iterable[Any] | None = None) -> list[Office]:
    """Every office named by the valid packs (or by ``packs``, loaded packs), sorted by region then id."""
    found: dict[tuple[str, str], dict] = {}
    for pack in policies.list_packs() if packs is None else packs:
        meta = pack.meta
        listed = meta.get("authorities") or [
            {
                "region": "",
                "name": meta.get("authority") or pack.id,
                "short": meta.get("authority_short") or meta.get("authority") or pack.id,
            }
        ]
        for item in listed:
            key = (str(item.get("region") or ""), str(item["name"]))
            slot = found.setdefault(key, {"id": str(item.get("short") or item["name"]), "packs": []})
            slot["packs"].append(pack.id)
    out = [
        Office(id=v["id"], name=name, region=region, packs=tuple(sorted(set(v["packs"]))))
        for (region, name), v in found.items()
    ]
    return sorted(out, key=lambda o: (o.region, o.id))


def find(ref: str, known: Iterable[Office] | None = None) -> Office:
    """The office whose id or full name is ``ref``; AccessRefused naming the known ones otherwise."""
    rows = list(known if known is not None else offices())
    for office in rows:
        if ref in (office.id, office.name):
            return office
    names = "; ".join(f"{o.id}（{o.name}，{o.region_name}）" for o in rows) or "none (no valid pack names one)"
    raise AccessRefused(
        f"No authority '{ref}'. The authorities are the packs' 'authorities' entries: {names}. "
        f"Give one's short name or full name, or add it to a pack's 'authorities'."
    )


class OfficeList(DictResult):
    """offices.listing: authorities (id, name, region, region_name, packs)."""

    def lines(self) -> list[str]:
        return [
            f"{o['id']:<8} {o['name']}  {o['region'] or '*'} {o['region_name']}  packs: {', '.join(o['packs'])}"
            for o in self["authorities"]
        ] or ["no authority: no valid pack names one"]


def listing() -> OfficeList:
    return OfficeList({"authorities": [o.to_json() for o in offices()]})
