"""Names of market entities, normalised for matching (docs/matching.md "Names").

``parse_name`` folds a name to what identifies it whatever way a department wrote it:

1. NFKC (full-width letters, digits and brackets to half-width), traditional characters to simplified (OpenCC
   ``t2s``), spaces and punctuation (·, -, quotes, 、) dropped;
2. the region prefix: leading names of administrative divisions (GB/T 2260, :mod:`engine.regions`): full names
   of any level (福建省, 泉州市, 丰泽区) and the short names of provinces and cities (福建, 泉州), also in brackets
   anywhere (祥诚（泉州）物流有限公司); the region they name is kept as a hint;
3. the organisation form at the end (股份有限公司, 有限责任公司 = 有限公司, 个体工商户, (有限合伙), ...), kept apart;
4. the distinctive part, the 字号: what is left before the industry words (物流, 贸易, 信息技术, 小吃店 ...).

``NameParts.core`` (字号 + industry words, without region and form) is what two names are compared on.
"""

from __future__ import annotations

import functools
import pathlib
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

# Organisation forms, longest first; the value is the form two names are compared by (有限责任公司 and 有限公司 are
# one legal form, 公司法 Art. 7).
FORMS: dict[str, str] = {
    "股份有限公司": "股份有限公司",
    "有限责任公司": "有限公司",
    "有限公司": "有限公司",
    "(普通合伙)": "合伙企业",
    "(有限合伙)": "合伙企业",
    "(特殊普通合伙)": "合伙企业",
    "合伙企业": "合伙企业",
    "个人独资企业": "个人独资企业",
    "个体工商户": "个体工商户",
    "农民专业合作社": "专业合作社",
    "专业合作社": "专业合作社",
    "分公司": "分公司",
    "公司": "公司",
}
# Industry words (行业表述, 企业名称登记管理规定 Art. 8) that follow the 字号, longest first when matched.
INDUSTRY_WORDS = sorted(
    set(
        "贸易 国际贸易 进出口 商贸 实业 鞋业 鞋服 纺织 服装 服饰 食品 建材 电子科技 电子 科技 网络科技 信息科技 信息技术 "
        "餐饮管理 餐饮 茶业 茶叶 陶瓷 石材 物流 供应链 医药 药业 建筑工程 建筑 工程 装饰工程 装饰 房地产开发 房地产 置业 "
        "机械 机电 包装材料 包装 材料 商务咨询 咨询 管理 企业管理 酒店管理 酒店 文化传媒 传媒 文化 投资 发展 环保 新能源 "
        "电子商务 商务 工艺品 塑胶制品 制品 五金机电 销售服务 服务 生物 农业 汽车 汽车修理部 修理部 小吃店 便利店 五金店 服装店 茶叶店 水果店 理发店 面馆 海鲜排档 果蔬 水产养殖 "
        "生猪养殖 养殖 行业协会 商会 培训学校 养老院 幼儿园 超市 商行 经营部 门市部 店".split()
    ),
    key=len,
    reverse=True,
)
_PUNCT = re.compile(r"[\s·・•\-—_'\"“”‘’、,，.。:：;；!！?？/\\*#&+]+")
_BRACKETS = re.compile(r"[(\[{【〔［]([^)\]}】〕］]*)[)\]}】〕］]")
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "省",
    "市",
    "区",
    "县",
    "盟",
    "旗",
)


@dataclass(frozen=True)
class NameParts:
    """A name taken apart: ``text`` normalised whole, ``core`` without region prefix and form, ``trade`` the
    字号, ``form`` the organisation form (canonical), ``regions`` the region codes the prefix named."""

    text: str
    core: str
    trade: str
    form: str
    regions: tuple[str, ...]

    @property
    def key(self) -> str:
        """What an exact match compares: core and form."""
        return f"{self.core}|{self.form}"


@functools.lru_cache(maxsize=1)
def _converter() -> object:
    import opencc  # type: ignore[import-untyped]  # opencc-python-reimplemented: pure Python, dictionaries shipped

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=1)
def _region_names() -> tuple[dict[str, tuple[str, ...]], int]:
    """Region names (full, and short for provinces and cities) -> the codes of that name (鼓楼区: 南京's, 徐州's,
    福州's, 开封's; the full names of a higher level first), and the longest name's length."""
    text = resources.files("engine").joinpath("data/gb2260.csv").read_text(encoding="utf-8")
    names: dict[str, list[str]] = {}
    rows = [line.split(",") for line in text.splitlines()[1:] if line]
    parents = {code: parent for code, _, parent in rows}
    for code, name, _ in rows:
        names.setdefault(name, []).append(code)
    for code, name, parent in rows:
        level_city_or_province = not parent or not parents.get(parent)
        if level_city_or_province:
            for suffix in _SUFFIXES:
                if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                    names.setdefault(name[: -len(suffix)], [code])
                    break
    return {n: tuple(c) for n, c in names.items()}, max(map(len, names))


@functools.lru_cache(maxsize=1)
def _all_short_names() -> dict[str, str]:
    """Short names of every division (丰泽, 安溪, 华安) -> code, first code of a name kept."""
    text = resources.files("engine").joinpath("data/gb2260.csv").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        code, name, _ = line.split(",")
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                out.setdefault(name[: -len(suffix)], code)
                break
    return out


@functools.lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    """The characters OpenCC ``t2s`` may change: the keys of its character table and, in its phrase table, the
    characters a phrase changes (a text with none of them converts to itself, so the slow conversion is skipped)."""
    import opencc

    folder = pathlib.Path(opencc.__file__).parent / "dictionary"
    out: set[str] = set()
    for file in ("TSCharacters.txt", "TSPhrases.txt"):
        for line in (folder / file).read_text(encoding="utf-8").splitlines():
            key, _, values = line.partition("\t")
            value = values.split(" ")[0]
            if len(key) == 1 or len(key) != len(value):
                out.update(key)
            else:
                out.update(k for k, v in zip(key, value, strict=True) if k != v)
    return frozenset(out)


def simplify(text: str) -> str:
    """NFKC, traditional to simplified, punctuation and spaces dropped (brackets kept, as half-width)."""
    text = unicodedata.normalize("NFKC", text or "")
    if not _traditional().isdisjoint(text):
        text = _converter().convert(text)  # type: ignore[attr-defined]
    text = text.replace("〔", "(").replace("〕", ")").replace("【", "(").replace("】", ")")
    return _PUNCT.sub("", text)


@functools.lru_cache(maxsize=1)
def _name_lengths() -> dict[str, tuple[int, ...]]:
    """The lengths of the region names beginning with each character, longest first (a name's first character
    rules out almost every length, and most characters begin no region name at all)."""
    out: dict[str, set[int]] = {}
    for name in _region_names()[0]:
        if len(name) >= 2:
            out.setdefault(name[0], set()).add(len(name))
    return {c: tuple(sorted(n, reverse=True)) for c, n in out.items()}


def _strip_prefix(text: str, found: list[str]) -> str:
    names = _region_names()[0]
    lengths = _name_lengths()
    while True:
        for n in lengths.get(text[:1], ()):
            if n > len(text) - 2:
                continue
            codes = names.get(text[:n])
            if codes is not None:
                found.extend(codes)
                text = text[n:]
                break
        else:
            return text


def _strip_form(text: str) -> tuple[str, str]:
    for written, form in FORMS.items():
        if text.endswith(written) and len(text) > len(written):
            return text[: -len(written)], form
    return text, ""


_WORDS = frozenset(INDUSTRY_WORDS)
_WORD_LENGTHS = sorted({len(w) for w in INDUSTRY_WORDS}, reverse=True)


def trade_of(core: str) -> str:
    """The 字号 of a core (a name without region and form): the core without its trailing industry words (the
    longest that fits first), at least two characters of it."""
    trade = core
    changed = True
    while changed:
        changed = False
        for n in _WORD_LENGTHS:
            if len(trade) - n >= 2 and trade[-n:] in _WORDS:
                trade = trade[:-n]
                changed = True
                break
    return trade


@functools.lru_cache(maxsize=65536)
def parse_name(name: str) -> NameParts:
    """A name taken apart for matching (module docstring)."""
    text = simplify(name)
    found: list[str] = []
    names, _ = _region_names()

    def bracket(match: re.Match[str]) -> str:
        inner = match.group(1)
        short = _all_short_names().get(inner)  # in brackets a county's short name is one too
        codes = names.get(inner) or ((short,) if short else ())
        if codes:
            found.extend(codes)
            return ""
        return match.group(0) if f"({inner})" in FORMS else inner

    body = _BRACKETS.sub(bracket, text)
    body = _strip_prefix(body, found)
    core, form = _strip_form(body)
    place = ""
    if form == "分公司" and 0 < core.rfind("公司") < len(core) - 2:
        # 祥诚物流有限公司晋江分公司: the company's core and the branch's place; the 字号 is the company's, the
        # region the prefix names is the company's, the branch's is its place (within the company's city).
        at = core.rfind("公司") + 2
        core, place = _strip_form(core[:at])[0], core[at:]
        place = place[:-1] if len(place) > 2 and place[-1] in "省市区县" else place
        within = {c[:4] for c in found if not c.endswith("0000")} or {c[:2] for c in found}
        found = [c for c in _counties_named(place) if any(c.startswith(w) for w in within)][:1]
    core = _strip_prefix(core, found) if len(core) > 3 else core
    core = core.replace("(", "").replace(")", "")
    return NameParts(text, core + place, trade_of(core), form, tuple(found))


@functools.lru_cache(maxsize=4096)
def _counties_named(short: str) -> tuple[str, ...]:
    """The county-level codes whose name without its suffix is ``short`` (鲤城 -> 350502; 鼓楼 -> several)."""
    text = resources.files("engine").joinpath("data/gb2260.csv").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines()[1:]:
        code, name, _ = line.split(",")
        if not code.endswith("00") and name[:-1] == short and name[-1] in "区县市旗":
            out.append(code)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def own_region_names(region: str) -> tuple[str, ...]:
    """The names of a region and the divisions above it, full and short (丰泽区, 丰泽, 泉州市, 泉州, ...), longest
    first: a name may begin with its own county's short name (安溪恒达茶业), which ``parse_name`` keeps (a 字号
    may be a county's name elsewhere: 华安)."""
    names, _ = _region_names()
    codes = {region, region[:4] + "00", region[:2] + "0000"} if region and len(region) == 6 else set()
    found = [n for n, c in names.items() if codes.intersection(c)]
    for code in codes:  # a county's short name, which _region_names leaves out
        for n, c in list(names.items()):
            if code in c:
                for suffix in _SUFFIXES:
                    if n.endswith(suffix) and len(n) - len(suffix) >= 2:
                        found.append(n[: -len(suffix)])
                        break
    return tuple(sorted(set(found), key=len, reverse=True))


def without_own_region(core: str, region: str | None) -> str:
    """``core`` without a leading name of ``region`` (or a division above it), if two characters remain."""
    for name in own_region_names(region or ""):
        if core.startswith(name) and len(core) - len(name) >= 2:
            return core[len(name) :]
    return core


def strip_any_county(core: str) -> str:
    """``core`` without a leading short name of any division, if two characters remain (a candidate key only:
    whether it counts is decided against the candidate's own region, :func:`without_own_region`)."""
    shorts = _all_short_names()
    for n in (4, 3, 2):
        if len(core) - n >= 2 and core[:n] in shorts:
            return core[n:]
    return core
