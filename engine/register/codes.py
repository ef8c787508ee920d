"""统一社会信用代码 (GB 32100-2015), resident identity numbers (GB 11643-1999), and the numbers that came before
the USCC: the 组织机构代码 (GB 11714, the USCC's positions 9-17) and the 15-digit 注册号 of the former business
registration.

The USCC and the identity number are 18 characters with a check character. ``normalize_code`` accepts either,
folds full-width characters and lower case, and raises :class:`CodeError` with the exact reason.
``validate_org_code`` and ``validate_reg_no`` check the older numbers given alone; ``org_code_problem`` is the
USCC's inner GB 11714 check, which some real codes fail (an import warns about it unless told to refuse).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from operator import mul

from engine.errors import CodeError

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_CHARS = frozenset(USCC_CHARSET)
_ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_VALUE = {c: i for i, c in enumerate(_ORG_CHARSET)}
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"

# Positions 1-2: registration department and institution type -> entity type.
DEPARTMENTS = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "市场监管(工商)",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}
ENTITY_TYPES = {
    "91": "enterprise",
    "92": "individual_business",
    "93": "farmer_cooperative",
    "51": "social_organisation",
    "52": "private_non_enterprise",
    "53": "foundation",
    "59": "social_organisation",
    "11": "government_agency",
    "12": "public_institution",
    "13": "mass_organisation",
    "19": "institution",
    "N1": "collective_economic",
    "N2": "collective_economic",
    "N3": "collective_economic",
    "N9": "collective_economic",
}
ENTITY_TYPE_LABELS = {
    "enterprise": "企业",
    "individual_business": "个体工商户",
    "farmer_cooperative": "农民专业合作社",
    "social_organisation": "社会组织",
    "private_non_enterprise": "民办非企业单位",
    "foundation": "基金会",
    "government_agency": "机关",
    "public_institution": "事业单位",
    "mass_organisation": "群团组织",
    "institution": "机构",
    "collective_economic": "农村集体经济组织",
    "other": "其他组织",
    "natural_person": "自然人",
}


@dataclass(frozen=True)
class Code:
    """A validated code: ``kind`` is ``uscc`` or ``person``."""

    value: str
    kind: str
    entity_type: str

    @property
    def is_person(self) -> bool:
        return self.kind == "person"


def fold(raw: str) -> str:
    """Full-width to half-width, strip spaces, upper case."""
    text = str(raw)
    if text.isascii():  # NFKC leaves ASCII as it is: the common case skips it
        return text.strip().replace(" ", "").upper()
    return unicodedata.normalize("NFKC", text).strip().replace(" ", "").upper()


def uscc_check_char(body17: str) -> str:
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, body17), USCC_WEIGHTS))
    value = 31 - total % 31
    return USCC_CHARSET[0 if value == 31 else value]


def org_code_check_char(body8: str) -> str:
    try:
        total = sum(map(mul, map(_ORG_VALUE.__getitem__, body8), _ORG_WEIGHTS))
    except KeyError:  # not a GB 11714 character: the ValueError it always raised
        total = sum(_ORG_CHARSET.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def reg_no_check_char(body14: str) -> str:
    """The 15th character of a 注册号: ISO 7064 MOD 11,10 over the first 14 digits."""
    p = 10
    for ch in body14:
        s = (p + int(ch)) % 10 or 10
        p = s * 2 % 11
    return str((11 - p) % 10)


_PERSON_SHAPE = re.compile(r"\d{17}[\dX]")


def id_check_char(body17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS)) % 11]


def validate_uscc(raw: str, allow: frozenset[str] = frozenset()) -> Code:
    """Validate a 统一社会信用代码; ``allow`` lists codes accepted despite a bad check character."""
    return _validate_uscc(fold(raw), raw, allow)


def _validate_uscc(code: str, raw: str, allow: frozenset[str]) -> Code:
    """:func:`validate_uscc` of ``raw``, folded already to ``code``."""
    if len(code) != 18:
        raise CodeError(f"'{raw}' has {len(code)} characters; a 统一社会信用代码 has 18")
    if not _USCC_CHARS.issuperset(code):
        pos, ch = next((pos, ch) for pos, ch in enumerate(code, 1) if ch not in _USCC_VALUE)
        raise CodeError(
            f"'{code}' has illegal character '{ch}' at position {pos} (allowed: {USCC_CHARSET}; no I, O, S, V or Z)"
        )
    if code[0] not in DEPARTMENTS:
        raise CodeError(f"'{code}' starts with '{code[0]}', which is not a registration department code")
    if not code[2:8].isdigit():
        raise CodeError(f"'{code}' positions 3-8 must be a 6-digit administrative division code")
    expected = uscc_check_char(code[:17])
    if code[17] != expected and code not in allow:
        raise CodeError(f"'{code}' check character is {code[17]}, expected {expected}")
    entity_type = ENTITY_TYPES.get(code[:2], "other")
    return Code(code, "uscc", entity_type)


def org_code_problem(uscc: str) -> str | None:
    """Why a (valid) USCC's positions 9-17 fail the GB 11714 organisation-code check, or None when they pass."""
    body, check = uscc[8:16], uscc[16]
    expected = org_code_check_char(body)
    if check == expected:
        return None
    return (
        f"'{uscc}' positions 9-17 ({uscc[8:17]}) are the 组织机构代码, whose check character (position 17) is "
        f"{check}, expected {expected} (GB 11714)"
    )


def validate_org_code(raw: str) -> str:
    """A 组织机构代码 given alone, ``12345678-9`` or ``123456789`` (full-width folded): its 9 characters, or
    :class:`CodeError` with the reason."""
    text = fold(raw)
    code = text.replace("-", "", 1) if len(text) == 10 and text[8] == "-" else text
    if len(code) != 9:
        raise CodeError(
            f"'{raw}' has {len(code)} characters; a 组织机构代码 has 9 (8 characters, then the check character, "
            f"written 12345678-9 or 123456789)"
        )
    for pos, ch in enumerate(code[:8], 1):
        if ch not in _ORG_CHARSET:
            raise CodeError(f"'{raw}' has illegal character '{ch}' at position {pos} (allowed: 0-9 and A-Z)")
    expected = org_code_check_char(code[:8])
    if code[8] != expected:
        raise CodeError(f"'{raw}' check character is {code[8]}, expected {expected} (GB 11714)")
    return code


def validate_reg_no(raw: str) -> str:
    """A 15-digit 注册号 (工商注册号 before the USCC): the first 6 digits a region, the last an ISO 7064 MOD 11,10
    check character. Returns the 15 digits or raises :class:`CodeError` with the reason."""
    code = fold(raw)
    if len(code) != 15:
        raise CodeError(f"'{raw}' has {len(code)} characters; a 注册号 has 15 digits")
    if not code.isdigit():
        bad = next(ch for ch in code if not ch.isdigit())
        raise CodeError(f"'{raw}' has '{bad}' at position {code.index(bad) + 1}; a 注册号 is 15 digits")
    if code[:2] not in PROVINCES:
        raise CodeError(
            f"'{raw}' begins with {code[:2]}, which is not a province's code; a 注册号's first 6 digits are the "
            f"registering authority's region (e.g. 350503)"
        )
    expected = reg_no_check_char(code[:14])
    if code[14] != expected:
        raise CodeError(f"'{raw}' check character is {code[14]}, expected {expected} (ISO 7064 MOD 11,10)")
    return code


def make_reg_no(region: str, seq: int) -> str:
    """A valid 注册号 of a region (6 digits) and a sequence number (8 digits kept)."""
    body = f"{region}{seq % 10**8:08d}"
    return body + reg_no_check_char(body)


# GB/T 2260 province-level codes: the first two digits of a resident identity number's region.
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
EARLIEST_BIRTH = dt.date(1900, 1, 1)
PERSON_TYPES = frozenset({"natural_person", "自然人"})


class AmbiguousCode(CodeError):
    """An 18-digit code that reads both ways: an identity number with a wrong check character, or a USCC."""

    def __init__(self, message: str, value: str):
        super().__init__(message)
        self.value = value


def _birth(code: str) -> dt.date | None:
    try:
        return dt.date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return None


def validate_person_id(raw: str) -> Code:
    """Validate an 18-character resident identity number (GB 11643, ISO 7064 MOD 11-2)."""
    code = fold(raw)
    if len(code) != 18:
        raise CodeError(f"'{mask_person_id(code)}' has {len(code)} characters; an identity number has 18")
    if not re.fullmatch(r"\d{17}[\dX]", code):
        raise CodeError(f"'{mask_person_id(code)}' must be 17 digits followed by a digit or X")
    if code[:6] == "000000":
        raise CodeError(f"'{mask_person_id(code)}' has region 000000, which is not an administrative division")
    birth = _birth(code)
    if birth is None:
        raise CodeError(
            f"'{mask_person_id(code)}' contains birth date {code[6:14]}, which is not a real date"
        ) from None
    if birth > dt.date.today():
        raise CodeError(f"'{mask_person_id(code)}' contains birth date {birth.isoformat()}, which is in the future")
    if birth < EARLIEST_BIRTH:
        raise CodeError(
            f"'{mask_person_id(code)}' contains birth date {birth.isoformat()}, before "
            f"{EARLIEST_BIRTH.year}, which is not plausible"
        )
    expected = id_check_char(code[:17])
    if code[17] != expected:
        raise CodeError(f"'{mask_person_id(code)}' check character is {code[17]}, expected {expected}")
    return Code(code, "person", "natural_person")


def has_person_shape(code: str) -> bool:
    """17 digits + digit/X, a province's region code and a real, plausible birth date: an identity number's shape."""
    if not re.fullmatch(r"\d{17}[\dX]", code) or code[:2] not in PROVINCES:
        return False
    birth = _birth(code)
    return birth is not None and EARLIEST_BIRTH <= birth <= dt.date.today()


def normalize_code(raw: str, allow: frozenset[str] = frozenset(), entity_type: str | None = None) -> Code:
    """Validate either kind of code. An 18-character all-digit string (or digits + X) whose
    positions 7-14 look like a birth date is read as an identity number, anything else as a USCC.

    A code with an identity number's shape (:func:`has_person_shape`) whose GB 11643 check fails but whose USCC
    check passes (about 1 typo in 31) raises :class:`AmbiguousCode` explaining both readings, unless
    ``entity_type`` says what the entity is (``natural_person``: identity number only; any other: a valid
    identity number stays one, else the USCC reading).
    """
    code = fold(raw)
    explicit = None if entity_type is None or not str(entity_type).strip() else str(entity_type).strip()
    if explicit in PERSON_TYPES:
        return validate_person_id(code)
    if code[6:8] in ("18", "19", "20") and _PERSON_SHAPE.fullmatch(code):
        try:
            return validate_person_id(code)
        except CodeError as person_error:
            try:
                uscc = _validate_uscc(code, code, allow)
            except CodeError:
                raise person_error from None
            if explicit is None and has_person_shape(code):
                birth = _birth(code)
                assert birth is not None  # has_person_shape checked the birth date is a real date
                raise AmbiguousCode(
                    f"'{mask_person_id(code)}' reads two ways: as a resident identity number (region {code[:6]}, "
                    f"born {birth.isoformat()}) its {person_error.message.split(' ', 1)[1]}; as a "
                    f"统一社会信用代码 its check character is right. Correct the code, or give the entity type "
                    f"(entity_type: natural_person, or enterprise, individual_business, ...)",
                    code,
                ) from None
            return uscc
    return _validate_uscc(code, code, allow)  # folded already (fold of a folded text is itself)


def mask_person_id(code: str) -> str:
    """Mask an identity number for publication: keep the first 4 and last 2 characters."""
    if len(code) < 8:
        return "*" * len(code)
    return code[:4] + "*" * (len(code) - 6) + code[-2:]


def mask_name(name: str) -> str:
    """Mask a person's name for publication: 张三 -> 张*, 欧阳娜娜 -> 欧***."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def make_uscc(dept_type: str, region: str, subject8: str) -> str:
    """Build a valid USCC from a 2-char dept/type, a 6-digit region and an 8-char organisation body."""
    body9 = subject8 + org_code_check_char(subject8)
    body17 = dept_type + region + body9
    return body17 + uscc_check_char(body17)


def make_person_id(region: str, birth: dt.date, seq: int) -> str:
    body = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return body + id_check_char(body)


def is_natural_person(entity_type: str | None, code: str | None = None) -> bool:
    """A natural person by the register's entity type, or by a code that validates as an identity number."""
    if entity_type == "natural_person":
        return True
    if entity_type:
        return False
    try:
        return validate_person_id(code or "").is_person
    except CodeError:
        return False


def public_party(
    name: str | None, code: str | None, entity_type: str | None, operator: str | None = None
) -> dict[str, str]:
    """What the public may see of a party: the one masking rule for every published artefact.

    - a natural person (entity type ``natural_person``, whatever the code looks like): name and code masked;
    - a 个体工商户: the operator's name masked, also where it stands inside the business's name (an individual
      business without a trade name is registered under its operator's name);
    - anyone else: as registered.
    The result has ``name``, ``code`` and ``operator`` (masked or empty).
    """
    name = (name or "").strip()
    code = code or ""
    operator = (operator or "").strip()
    if is_natural_person(entity_type, code):
        return {"name": mask_name(name), "code": mask_person_id(code), "operator": ""}
    if entity_type == "individual_business":
        masked_op = mask_name(operator) if operator else ""
        shown = name.replace(operator, masked_op) if operator and operator in name else name
        # A code that is an identity number (an individual business registered before the USCC) is masked too.
        shown_code = mask_person_id(code) if is_natural_person(None, code) else code
        return {"name": shown, "code": shown_code, "operator": masked_op}
    return {"name": name, "code": code, "operator": operator}
