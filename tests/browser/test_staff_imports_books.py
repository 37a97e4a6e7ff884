"""Staff import a catalog file through the site and watch it run to the end, as a person would."""

import re

from playwright.sync_api import Page, expect

from tests.benchmarks.make_catalog import make_catalog
from tests.browser.helpers import sign_in

IMPORT_TIMEOUT_MS = 60_000


def test_staff_upload_a_catalog_and_watch_it_run_to_a_summary(page: Page, tmp_path):
    catalog = make_catalog(tmp_path / "new-season.csv", 3000)
    with catalog.open("a", encoding="utf-8") as file:
        file.write("9780000000000,A book with a bad ISBN,,Someone,9.99,1,,,\n")

    page.goto("/")
    sign_in(page)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Import books").click()
    expect(page.get_by_role("heading", name="Import books")).to_be_visible()
    page.get_by_label("Catalog file").set_input_files(catalog)
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", name="Import of new-season.csv")).to_be_visible()
    progress = page.locator("#import-progress")
    status = progress.get_by_role("status")  # what is announced: the state, not the counts every second
    expect(status).to_have_text("Importing…")  # the page follows the import as it runs
    expect(status).to_have_text("Done.", timeout=IMPORT_TIMEOUT_MS)
    expect(progress.locator(".status")).to_have_text(re.compile(r"Done\.\s+3001 of 3001 records\."))
    expect(page.locator(".import-counts .added")).to_have_text("3000")
    rejected = page.get_by_role("table").filter(has_text="9780000000000")
    expect(rejected).to_contain_text("check digit is wrong")
    expect(page.get_by_role("link", name="Download all rejected records (CSV)")).to_be_visible()
