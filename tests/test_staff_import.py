"""Staff import a catalog file from the shop: upload, progress, summary and rejects; nobody else can."""

import csv
import datetime
import io
import os
import re
import uuid
from pathlib import Path

import pytest

from burts_books.web import staff_import
from tests.constants import JSON, PCI
from tests.shop_client import text_of
from tests.store import store_snapshot
from tests.waiting import until

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(client, filename, content, with_token=True):
    fields = {"_xsrf": await client.xsrf_token()} if with_token else {}
    body, headers = multipart(fields, filename, content)
    return await client.fetch("/staff/imports", method="POST", body=body, headers=headers)


async def finished(client, location):
    async def progress():
        return (await client.get(location, headers=JSON)).json()

    await until(lambda: _status(progress), message="the import to finish")
    return await progress()


async def _status(progress):
    return (await progress())["status"] != "running"


@pytest.mark.gen_test
async def test_staff_upload_a_file_watch_it_run_and_read_what_was_rejected(staff, services):
    response = await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())
    assert response.code == 303 and response.location.startswith("/staff/imports/")
    job = await finished(staff, response.location)
    assert job == {"status": "done", "total": 11, "added": 3, "updated": 1, "unchanged": 1, "rejected": 6}

    page = (await staff.get(response.location)).text
    assert "Done. 11 of 11 records." in text_of(page)
    assert "Refactoring" in text_of(page) and "the ISBN's check digit is wrong" in text_of(page)  # and why
    rejects = await staff.get(response.location + "/rejects.csv")
    rows = list(csv.reader(io.StringIO(rejects.text)))
    assert rows[0] == ["line", "isbn", "title", "reason"] and len(rows) == 1 + 6
    assert "attachment" in rejects.headers["Content-Disposition"]

    assert (await services.catalog.get("9780134685991"))["title"]  # an added book is on sale
    assert 'aria-label="Back office"' in page  # the back office's own pages, with its navigation
    listing = text_of((await staff.get("/staff/imports")).text)
    assert re.search(r"books\.csv burt@burtsbooks\.com \d\d \w+ \d{4}, \d\d:\d\d done", listing), listing


@pytest.mark.gen_test
async def test_rejects_of_a_file_named_in_any_script_download_under_its_name(staff):
    response = await upload(staff, "书目.csv", (FIXTURES / "books.csv").read_bytes())
    await finished(staff, response.location)
    rejects = await staff.get(response.location + "/rejects.csv")
    assert rejects.code == 200
    disposition = rejects.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="__.csv.rejects.csv"; ')  # for clients reading ASCII only
    assert disposition.endswith("filename*=UTF-8''%E4%B9%A6%E7%9B%AE.csv.rejects.csv")  # the name, RFC 5987


@pytest.mark.gen_test
async def test_staff_signed_in_without_an_email_import_under_their_name(staff, services):
    # A social sign-in may bring no email address: the account is known by its name.
    user = await services.db.users.find_one_and_update({"email": "burt@burtsbooks.com"},
                                                       {"$unset": {"email": ""}, "$set": {"name": "Burt"}})
    response = await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())
    assert response.code == 303
    assert (await finished(staff, response.location))["status"] == "done"
    assert f"Burt ({user['_id']})" in text_of((await staff.get("/staff/imports")).text)


@pytest.mark.gen_test
async def test_a_file_that_is_not_a_catalog_is_refused_on_the_form_and_nothing_changes(staff, services):
    before = await store_snapshot(services)
    response = await upload(staff, "notes.txt", b"dear diary\n")
    assert response.code == 400
    assert "neither CSV" in text_of(response.text) and "Nothing was imported." in text_of(response.text)
    assert "notes.txt" in text_of(response.text) and "upload-" not in response.text  # named as staff know it
    empty = await upload(staff, "books.csv", b"")
    assert empty.code == 400 and "Choose a CSV or ONIX file" in text_of(empty.text)
    garbled = await staff.fetch("/staff/imports", method="POST", body=b"--x\r\nnonsense",
                                headers={"Content-Type": "multipart/form-data; boundary=y",
                                         "X-XSRFToken": await staff.xsrf_token()})
    assert garbled.code == 400 and "could not be read" in text_of(garbled.text)
    assert await store_snapshot(services) == before
    assert await services.db.imports.count_documents({}) == 0
    assert list(services.imports.folder.iterdir()) == []  # no upload left behind


@pytest.mark.gen_test
async def test_shoppers_visitors_and_forged_forms_import_nothing(staff, services, client):
    shopper = client.another()
    await services.accounts.register("someone@example.com", "a long passphrase")
    await shopper.login("someone@example.com", "a long passphrase")
    before = await store_snapshot(services)
    content = (FIXTURES / "books.csv").read_bytes()
    anonymous = await upload(client.another(), "books.csv", content)
    assert anonymous.code == 303 and anonymous.location.startswith("/login")
    assert (await upload(shopper, "books.csv", content)).code == 403
    assert (await shopper.get("/staff/imports")).code == 403

    assert (await upload(staff, "books.csv", content, with_token=False)).code == 403  # no XSRF token
    assert await store_snapshot(services) == before
    assert await services.db.imports.count_documents({}) == 0


@pytest.mark.gen_test
async def test_an_import_whose_process_died_is_shown_interrupted_not_running_forever(staff, services):
    response = await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())
    job = await finished(staff, response.location)
    assert job["status"] == "done"
    job_id = response.location.rsplit("/", 1)[1]
    # As a process killed mid-import leaves it: running, its last progress long ago.
    await services.db.imports.update_one({"_id": job_id}, {"$set": {
        "status": "running", "heartbeat_at": datetime.datetime(2020, 1, 1)}})
    fresh = await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())
    await services.housekeeping(cart_ttl_seconds=1200)
    assert (await staff.get(response.location, headers=JSON)).json()["status"] == "interrupted"
    assert (await finished(staff, fresh.location))["status"] == "done"  # a live import is left alone


@pytest.mark.gen_test
async def test_an_import_whose_rejects_are_gone_shows_without_them(staff, services):
    # As a process that died before its first rejection, or a data folder restored from a backup, leaves it.
    response = await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())
    job = await services.db.imports.find_one({"_id": response.location.rsplit("/", 1)[1]})
    await finished(staff, response.location)
    os.remove(job["rejects_file"])
    page = await staff.get(response.location)
    assert page.code == 200 and "Done. 11 of 11 records." in text_of(page.text)
    rejects = await staff.get(response.location + "/rejects.csv")
    assert rejects.code == 404 and "no longer kept" in rejects.text


@pytest.mark.gen_test
async def test_an_unknown_import_is_404(staff):
    assert (await staff.get("/staff/imports/AAAAAAAAAAAAAAAA")).code == 404
    assert (await staff.get(f"/books/{PCI}")).code == 200


@pytest.mark.gen_test
async def test_a_file_past_the_upload_limit_is_refused_and_only_staff_files_are_kept(staff, services, monkeypatch):
    monkeypatch.setattr(staff_import, "MAX_UPLOAD", 4000)
    assert (await upload(staff, "books.csv", (FIXTURES / "books.csv").read_bytes())).code == 303  # 2 KB
    too_big = await upload(staff, "books.csv", b"isbn," + b"x" * 5000)
    assert too_big.code == 400  # Tornado refuses a body past the limit before the handler sees it
    # A visitor's file is read to its end and dropped, then the visitor is sent to sign in
    # (refused before, the connection would be dropped, and nginx answer a 502 of its own).
    visitor = await upload(staff.another(), "books.csv", b"x" * 3000)
    assert visitor.code == 303 and visitor.location.startswith("/login")
    assert await services.db.imports.count_documents({}) == 1


@pytest.mark.gen_test
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/csv", "multipart/form-data"])
async def test_a_body_that_is_not_a_multipart_form_is_refused_on_the_form(staff, services, content_type):
    before = await store_snapshot(services)
    answer = await staff.fetch("/staff/imports", method="POST", body=(FIXTURES / "books.csv").read_bytes(),
                               headers={"Content-Type": content_type, "X-XSRFToken": await staff.xsrf_token()})
    assert answer.code == 400 and "could not be read as a form" in text_of(answer.text)
    assert await store_snapshot(services) == before
    assert await services.db.imports.count_documents({}) == 0
    assert list(services.imports.folder.iterdir()) == []  # no upload left behind
