"""ONIX for Books 3.0 read as a publisher's feed gives it: the price in the shop's currency, the
authors in their order whatever else they did, and the ISBN however the product names it."""

import io

import pytest

from burts_books import onix

ISBN = "9780596101992"
PRICE_USD = "<Price><PriceType>01</PriceType><PriceAmount>12.99</PriceAmount><CurrencyCode>USD</CurrencyCode></Price>"
PRICE_GBP = "<Price><PriceType>02</PriceType><PriceAmount>8.99</PriceAmount><CurrencyCode>GBP</CurrencyCode></Price>"
ISBN_13 = f"<ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>{ISBN}</IDValue></ProductIdentifier>"
AUTHOR = "<Contributor><ContributorRole>A01</ContributorRole><PersonName>Ann Author</PersonName></Contributor>"


def read(identifiers=ISBN_13, contributors=AUTHOR, prices=PRICE_USD, header="") -> tuple[dict, str | None]:
    """The form fields and the refusal of a feed of one product."""
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ONIXMessage release="3.0" xmlns="http://ns.editeur.org/onix/3.0/reference"><Header><Sender>'
        f"<SenderName>A publisher</SenderName></Sender><SentDateTime>20261201</SentDateTime>{header}</Header>"
        f"<Product><RecordReference>r1</RecordReference><NotificationType>03</NotificationType>{identifiers}"
        "<DescriptiveDetail><ProductComposition>00</ProductComposition><ProductForm>BC</ProductForm>"
        "<TitleDetail><TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>"
        f"<TitleText>Intro</TitleText></TitleElement></TitleDetail>{contributors}</DescriptiveDetail>"
        "<ProductSupply><SupplyDetail><Supplier><SupplierRole>01</SupplierRole></Supplier>"
        f"<ProductAvailability>20</ProductAvailability>{prices}</SupplyDetail></ProductSupply></Product>"
        "</ONIXMessage>"
    )
    [(_, form, refusal)] = list(onix.records(io.BytesIO(feed.encode()), "feed.xml"))
    return form, refusal


@pytest.mark.parametrize("prices", [PRICE_GBP + PRICE_USD, PRICE_USD + PRICE_GBP])
def test_the_price_is_the_one_in_dollars_wherever_it_is_listed(prices):
    assert read(prices=prices) == ({**read()[0], "price": "12.99"}, None)


def test_a_product_priced_in_other_currencies_only_is_refused_saying_so():
    form, refusal = read(prices=PRICE_GBP)
    assert (form["price"], refusal) == ("", "no price in USD, the shop's currency")


@pytest.mark.parametrize("default, read_as", [("", "12.50"), ("USD", "12.50"), ("GBP", "")])
def test_a_price_naming_no_currency_is_in_the_feeds_default(default, read_as):
    header = f"<DefaultCurrencyCode>{default}</DefaultCurrencyCode>" if default else ""
    form, refusal = read(prices="<Price><PriceAmount>12.50</PriceAmount></Price>", header=header)
    assert (form["price"], refusal) == (read_as, None if read_as else "no price in USD, the shop's currency")


def test_authors_come_in_the_feeds_sequence_and_any_of_their_roles_counts():
    contributors = (
        "<Contributor><SequenceNumber>3</SequenceNumber><ContributorRole>B06</ContributorRole>"
        "<PersonName>A Translator</PersonName></Contributor>"
        "<Contributor><SequenceNumber>2</SequenceNumber><ContributorRole>A01</ContributorRole>"
        "<PersonName>Second Author</PersonName></Contributor>"
        "<Contributor><SequenceNumber>1</SequenceNumber><ContributorRole>B01</ContributorRole>"
        "<ContributorRole>A01</ContributorRole><PersonName>Editor And Author</PersonName></Contributor>"
    )
    assert read(contributors=contributors)[0]["author"] == "Editor And Author, Second Author"


def test_a_product_named_by_its_gtin_13_alone_is_read_by_that_isbn():
    gtin = f"<ProductIdentifier><ProductIDType>03</ProductIDType><IDValue>{ISBN}</IDValue></ProductIdentifier>"
    assert read(identifiers=gtin)[0]["isbn"] == ISBN
    other = "<ProductIdentifier><ProductIDType>03</ProductIDType><IDValue>4006381333931</IDValue></ProductIdentifier>"
    assert read(identifiers=other)[0]["isbn"] == ""  # a GTIN that is no book's
