"""统一社会信用代码 and identity-number validation (domain.md §6 worked examples)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import CodeError
from engine.register.codes import (
    USCC_CHARSET,
    make_person_id,
    make_uscc,
    mask_name,
    mask_person_id,
    normalize_code,
    uscc_check_char,
    validate_person_id,
    validate_uscc,
)

VALID = [
    "91350100M000100Y43",
    "91350200776049653A",
    "91440101MA5CJQ4N59",
    "123502001549897397",
    "9135021359498494XQ",
    "91350213678251743X",
]


@pytest.mark.parametrize("code", VALID)
def test_published_codes_are_valid(code):
    result = validate_uscc(code)
    assert result.value == code and result.kind == "uscc" and not result.is_person


def test_worked_example_check_character():
    # domain.md §6: body 91350100M000100Y4 -> weighted sum 1640, 1640 mod 31 = 28, 31 - 28 = 3.
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "code, expected",
    [
        ("91310115MA1H8R7C6D", "check character is D, expected 7"),  # a blog example that is wrong
        ("91350203M0001QAY9B", "check character is B, expected 9"),
        ("91350100M000100Y44", "check character is 4, expected 3"),
    ],
)
def test_wrong_check_character(code, expected):
    with pytest.raises(CodeError, match=expected):
        validate_uscc(code)


def test_z_check_character_is_illegal():
    # 91350100M000100Y4Z: Z is not in the character set at all.
    with pytest.raises(CodeError, match="illegal character 'Z' at position 18"):
        validate_uscc("91350100M000100Y4Z")


def test_override_list_accepts_a_known_bad_code():
    assert validate_uscc("91350203M0001QAY9B", allow=frozenset({"91350203M0001QAY9B"})).value == "91350203M0001QAY9B"


@pytest.mark.parametrize("code, length", [("91350100M000100Y4", 17), ("91350100M000100Y433", 19), ("", 0)])
def test_wrong_length(code, length):
    with pytest.raises(CodeError, match=f"has {length} characters; a 统一社会信用代码 has 18"):
        validate_uscc(code)


@pytest.mark.parametrize("char", list("IOSVZ"))
def test_illegal_characters(char):
    code = "91350100M" + char + "00100Y43"
    with pytest.raises(CodeError, match=f"illegal character '{char}' at position 10.*no I, O, S, V or Z"):
        validate_uscc(code)


def test_bad_department_and_region():
    with pytest.raises(CodeError, match="not a registration department code"):
        validate_uscc(make_uscc("B1", "350100", "00000001"))
    body = "9135A100M000100Y4"
    with pytest.raises(CodeError, match="positions 3-8 must be a 6-digit"):
        validate_uscc(body + uscc_check_char(body))


@pytest.mark.parametrize(
    "raw",
    ["９１３５０１００Ｍ０００１００Ｙ４３", "91350100m000100y43", " 91350100M000100Y43 ", "9135 0100 M000 100Y 43"],
)
def test_full_width_lower_case_and_spaces_are_normalised(raw):
    assert normalize_code(raw).value == "91350100M000100Y43"


@pytest.mark.parametrize(
    "prefix, entity_type",
    [
        ("91", "enterprise"),
        ("92", "individual_business"),
        ("93", "farmer_cooperative"),
        ("51", "social_organisation"),
        ("52", "private_non_enterprise"),
        ("53", "foundation"),
        ("11", "government_agency"),
        ("12", "public_institution"),
        ("N2", "collective_economic"),
        ("Y1", "other"),
    ],
)
def test_entity_type_from_positions_1_and_2(prefix, entity_type):
    assert validate_uscc(make_uscc(prefix, "350500", "12345678")).entity_type == entity_type


@given(st.text(alphabet=USCC_CHARSET, min_size=8, max_size=8), st.sampled_from(["91", "92", "93", "51", "12"]))
def test_made_codes_validate_and_any_single_change_is_caught(body, prefix):
    code = make_uscc(prefix, "350503", body)
    assert validate_uscc(code).value == code
    # 31 is prime and no weight is 0 mod 31, so changing any one character changes the check value
    # (or breaks the structure first: department code, digits of the region).
    for pos in range(17):
        changed = code[:pos] + USCC_CHARSET[(USCC_CHARSET.index(code[pos]) + 1) % 31] + code[pos + 1 :]
        with pytest.raises(CodeError):
            validate_uscc(changed)


# -- resident identity numbers ----------------------------------------------------------------------


def test_identity_number_mod_11_2():
    # GB 11643 example: check character X.
    code = validate_person_id("11010519491231002x")
    assert code.value == "11010519491231002X" and code.is_person and code.entity_type == "natural_person"
    made = make_person_id("350102", dt.date(1990, 2, 28), 5)
    assert normalize_code(made).kind == "person"


def test_identity_number_errors_are_masked():
    with pytest.raises(CodeError) as exc:
        validate_person_id("110105194912310021")
    message = str(exc.value)
    assert "check character is 1, expected X" in message
    assert "110105194912310021" not in message and "1101************21" in message


def test_identity_number_with_impossible_birth_date():
    body = "11010519900230001"
    code = body + "0"
    with pytest.raises(CodeError, match="birth date 19900230, which is not a real date") as exc:
        normalize_code(code)
    assert code not in str(exc.value)


def test_identity_number_shape_errors():
    with pytest.raises(CodeError, match="17 digits followed by a digit or X"):
        validate_person_id("1101051949123100AX")
    with pytest.raises(CodeError, match="has 17 characters; an identity number has 18"):
        validate_person_id("11010519491231002")


def test_all_digit_uscc_is_not_read_as_a_person():
    # 123502001549897397 is all digits but its positions 7-8 are no birth century: it is a USCC.
    assert normalize_code("123502001549897397").kind == "uscc"


def test_masking_helpers():
    assert mask_person_id("11010519491231002X") == "1101************2X"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧***" and mask_name("") == ""


# -- implausible identity numbers and the two readings of an 18-digit code ------------------------------

from tests.builders_engine import typo_passing_uscc as _typo_passing_uscc  # noqa: E402


def test_identity_numbers_with_implausible_birth_dates_or_region():
    import datetime as _dt

    from engine.register.codes import make_person_id, normalize_code, validate_person_id

    future = make_person_id("350102", _dt.date.today() + _dt.timedelta(days=1), 7)
    with pytest.raises(CodeError, match="which is in the future"):
        validate_person_id(future)
    with pytest.raises(CodeError, match="before 1900"):
        validate_person_id(make_person_id("350102", _dt.date(1899, 12, 31), 7))
    with pytest.raises(CodeError, match="region 000000"):
        validate_person_id(make_person_id("000000", _dt.date(1985, 6, 1), 7))
    with pytest.raises(CodeError, match="region 000000"):
        normalize_code(make_person_id("000000", _dt.date(1985, 6, 1), 7), entity_type="natural_person")
    assert validate_person_id(make_person_id("350102", _dt.date(1900, 1, 1), 7)).is_person


def test_a_mistyped_identity_number_that_passes_the_uscc_check_reads_two_ways():
    import datetime as _dt

    from engine.register.codes import AmbiguousCode, has_person_shape, make_person_id, normalize_code

    good = make_person_id("350102", _dt.date(1985, 6, 1), 12)
    typo = _typo_passing_uscc(good)
    assert has_person_shape(typo)
    with pytest.raises(AmbiguousCode) as exc:
        normalize_code(typo)
    message = str(exc.value)
    assert "reads two ways" in message and "as a resident identity number" in message
    assert f"check character is {typo[17]}, expected " in message and "统一社会信用代码" in message
    assert exc.value.value == typo and typo not in message  # the number itself is masked
    # The row's entity type decides.
    assert normalize_code(typo, entity_type="enterprise").kind == "uscc"
    with pytest.raises(CodeError, match="check character") as person:
        normalize_code(typo, entity_type="natural_person")
    assert not isinstance(person.value, AmbiguousCode)
    # A real enterprise USCC (91...) never has an identity number's shape and reads as before.
    uscc = make_uscc("91", "350100", "19850601")
    assert not has_person_shape(uscc) and normalize_code(uscc).kind == "uscc"
    assert normalize_code(good).kind == "person"
