"""The articles of a basis document, and whether a citation names one of them.

A pack version's ``basis:`` document may declare its structure::

    sat-2025-12:
      title: 纳税缴费信用管理办法（国家税务总局公告2025年第12号）
      articles: 36                  # 第一条 .. 第三十六条 (or a list of names: [第一条, 第二条, 附则])
      items: {第十八条: 13, 第三十四条: 5}   # 第十八条第（一）项 .. 第（十三）项

A document made of numbered items rather than articles (国办发〔2019〕35号: （一）..（二十）) gives ``items: 20``
at its top level: its citations read ``第（十）项``. A citation is one or more parts joined by 、 or ，, each an
article with an optional 款 (paragraph) and 项 (item): ``第十八条第（一）项``, ``第十六条、第十七条``,
``第三十四条第四款``; a span ``第（七）项至第（八）项`` names both ends. Every part must be declared.
"""

from __future__ import annotations

import re
from typing import Any

_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 11 -> 十一, 20 -> 二十, 101 -> 一百零一 (as article numbers are written)."""
    if n <= 0:
        raise ValueError(n)
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    head = _DIGITS[n // 100] + "百"
    if rest == 0:
        return head
    if rest < 10:
        return head + "零" + _DIGITS[rest]
    return head + (("一" + chinese_number(rest)) if rest < 20 else chinese_number(rest))


_PART = re.compile(
    r"^(?P<article>第[零一二三四五六七八九十百]+条|.+?)??"
    r"(?:第(?P<paragraph>[一二三四五六七八九十]+)款)?"
    r"(?:第?（(?P<item>[一二三四五六七八九十百]+)）项?)?$"
)
_SPLIT = re.compile(r"[、，,]|至")


def declared(body: Any) -> bool:
    """Whether a basis document declares its articles or items (only those are checked)."""
    return isinstance(body, dict) and ("articles" in body or "items" in body)


def structure_problem(body: dict) -> str | None:
    """What is wrong with a document's ``articles`` / ``items`` declaration, or None."""
    arts = body.get("articles")
    if arts is not None and not (
        (isinstance(arts, int) and not isinstance(arts, bool) and 0 < arts <= 500)
        or (isinstance(arts, list) and arts and all(isinstance(a, str) and a for a in arts))
    ):
        return "articles is the number of articles (1-500) or a list of their names"
    items = body.get("items")
    if items is None:
        return None
    if isinstance(items, int) and not isinstance(items, bool):
        return None if 0 < items <= 200 else "items is a number of items (1-200)"
    if not isinstance(items, dict):
        return "items is a number (a document of numbered items) or a mapping of article to its number of items"
    names = article_names(body)
    for art, n in items.items():
        if not (isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 200):
            return f"items of {art}: a number of items (1-200)"
        if str(art) not in names:
            return f"items names {art}, which is not one of the document's articles"
    return None


def article_names(body: dict) -> set[str]:
    arts = body.get("articles")
    if isinstance(arts, int) and not isinstance(arts, bool):
        return {f"第{chinese_number(i)}条" for i in range(1, arts + 1)}
    if isinstance(arts, list):
        return {str(a) for a in arts}
    return set()


def _item_count(body: dict, article: str | None) -> int:
    items = body.get("items")
    if article is None:
        return items if isinstance(items, int) and not isinstance(items, bool) else 0
    if isinstance(items, dict):
        return int(items.get(article, 0))
    return 0


def _number(text: str) -> int:
    values = {chinese_number(i): i for i in range(1, 201)}
    return values.get(text, 0)


def citation_problem(doc: str, body: dict, citation: str) -> str | None:
    """Why ``citation`` does not name an article (and item) declared in ``body``, or None when every part does."""
    names = article_names(body)
    for part in (p.strip() for p in _SPLIT.split(str(citation))):
        if not part:
            return f"'{citation}' has an empty part"
        if part in names:
            continue
        m = _PART.match(part)
        article = m.group("article") if m else None
        if m is None or (article is not None and article not in names) or (article is None and not m.group("item")):
            arts = body.get("articles")
            if isinstance(arts, int) and not isinstance(arts, bool):
                known = f"第一条至第{chinese_number(arts)}条"
            else:
                listed = [str(a) for a in arts] if isinstance(arts, list) else []
                known = "、".join(listed[:5]) + ("…" if len(listed) > 5 else "")
            return (
                f"'{part}' is not an article of {doc}"
                + (f" (it has {known})" if names else " (it declares no articles, only items)")
                + "; cite an article it has, or declare it under the document's articles"
            )
        if m.group("item"):
            n = _number(m.group("item"))
            has = _item_count(body, article)
            if not 0 < n <= has:
                where = article or doc
                return (
                    f"'{part}': {where} has "
                    + (f"{has} items (第（一）项..第（{chinese_number(has)}）项)" if has else "no items declared")
                    + f"; declare them under the document's items ({article or 'items'}: N)"
                )
    return None
