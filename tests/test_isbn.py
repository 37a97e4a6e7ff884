"""Every way staff may type an ISBN leads to one ISBN-13; typos are caught by the check digit."""

import pytest

from burts_books.isbn import InvalidISBN, from_input, normalize


@pytest.mark.parametrize(
    "typed, isbn13",
    [
        ("9780596529321", "9780596529321"),
        ("978-0-596-52932-1", "9780596529321"),
        (" 978 0 596 52932 1 ", "9780596529321"),
        ("0596529325", "9780596529321"),  # ISBN-10 of the same book
        ("0-596-52932-5", "9780596529321"),
        ("080442957X", "9780804429573"),  # ISBN-10 check digit X
        ("0-8044-2957-x", "9780804429573"),
        ("9791000000008", "9791000000008"),  # 979 prefix
    ],
)
def test_accepted_forms_normalize_to_isbn13(typed, isbn13):
    assert normalize(typed) == isbn13


@pytest.mark.parametrize(
    "typed, message",
    [
        ("9780596529322", "check digit is wrong"),
        ("0596529326", "check digit is wrong"),
        ("1234567890128", "starts with 978 or 979"),
        ("97805965293", "10 or 13 digits"),
        ("97805965293210", "10 or 13 digits"),
        ("", "10 or 13 digits"),
        ("X596529325", "10 or 13 digits"),  # X only as the last character
        ("978059652932X", "10 or 13 digits"),
        ("٩٧٨٠٥٩٦٥٢٩٣٢١", "10 or 13 digits"),  # Arabic-Indic digits are not ISBN digits
    ],
)
def test_invalid_isbns_are_refused_with_a_reason(typed, message):
    with pytest.raises(InvalidISBN, match=message):
        normalize(typed)


@pytest.mark.parametrize(
    "sent, message",
    [(12345, "Not an ISBN: 12345."), (None, "Not an ISBN: None."),
     ("978-0-596-52932-2", "Not a valid ISBN ('978-0-596-52932-2'): the ISBN's check digit is wrong.")],
)
def test_what_a_request_sent_is_quoted_when_refused(sent, message):
    with pytest.raises(InvalidISBN) as refused:
        from_input(sent)
    assert str(refused.value) == message
