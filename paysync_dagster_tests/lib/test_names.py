"""Customer names compared as a clerk compares them, and the organisation behind an e-mail address."""

from paysync_dagster.lib.names import compact_names, email_organisation, names_agree


def test_names_agree_without_legal_words_and_case() -> None:
    assert names_agree("The Acme Tools Co.", "ACME TOOLS, INC")
    assert names_agree("Acme Tols LLC", "Acme Tools")  # a small typo
    assert not names_agree("Acme Tools", "Apex Foods")
    assert not names_agree("", "Acme")


def test_the_organisation_of_an_email_address() -> None:
    assert email_organisation("accounts@lakeshoremedicalsupply.example") == "LAKESHOREMEDICALSUPPLY"
    assert email_organisation("ap@lakeshore-medical.co.uk") == "LAKESHOREMEDICAL"
    assert email_organisation("someone@") == email_organisation("no address") == ""
    assert compact_names("Lakeshore Medical Supply Corp.") == {"LAKESHOREMEDICALSUPPLYCORP", "LAKESHOREMEDICALSUPPLY"}
