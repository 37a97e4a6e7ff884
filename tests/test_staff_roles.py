"""Staff roles from the site: the owner grants and revokes staff on /staff/users; nobody changes their own role."""

import datetime
import re

import pytest

from tests.cli_helpers import store
from tests.constants import PASSWORD, SHOPPER_EMAIL, STAFF_EMAIL
from tests.shop_client import forms, text_of
from tests.shop_process import run_cli
from tests.store import store_snapshot

OTHER_STAFF = "clerk@burtsbooks.com"


def role_of(html, email):
    row = re.search(rf"<td>{re.escape(email)}</td>\s*<td class=\"role\">(\w+)</td>", html)
    return row.group(1) if row else None


async def user(services, email):
    return await services.db.users.find_one({"email": email})


async def change(client, target, staff, **kwargs):
    return await client.post(f"/staff/users/{target['_id']}/role", {"staff": "1" if staff else "0"}, **kwargs)


@pytest.fixture
def owner(staff):
    """The first staff account is the owner: the `staff` client."""
    return staff


@pytest.mark.gen_test
async def test_the_first_staff_account_is_the_owner_and_later_ones_are_not(owner, services):
    clerk = await services.accounts.register(OTHER_STAFF, PASSWORD, staff=True)
    assert (await user(services, STAFF_EMAIL))["owner"] is True
    assert clerk["owner"] is False
    page = (await owner.get("/staff/users")).text
    assert role_of(page, STAFF_EMAIL) == "Owner" and role_of(page, OTHER_STAFF) == "Staff"


@pytest.mark.gen_test
async def test_the_owner_grants_and_revokes_staff(owner, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    shopper = await user(services, SHOPPER_EMAIL)
    users_page = (await owner.get("/staff/users?q=reader")).text
    action = f"/staff/users/{shopper['_id']}/role?q=reader&page=1"
    assert [form.values for form in forms(users_page) if form.action == action] == [{"staff": "1"}]

    response = await owner.post(action, {"staff": "1"})
    assert (response.code, response.location) == (303, "/staff/users?q=reader&page=1")
    page = await owner.get(response.location)
    assert f"{SHOPPER_EMAIL} is now staff." in text_of(page.text)
    assert role_of(page.text, SHOPPER_EMAIL) == "Staff"
    promoted = owner.another()
    await promoted.login(SHOPPER_EMAIL)
    assert (await promoted.get("/staff/stock")).code == 200  # at once, without signing in again

    response = await change(owner, shopper, False)
    assert f"{SHOPPER_EMAIL} is no longer staff." in text_of((await owner.get(response.location)).text)
    assert (await promoted.get("/staff/stock")).code == 403
    changed = await user(services, SHOPPER_EMAIL)
    assert (changed["staff"], changed["role_changed_by"]) == (False, STAFF_EMAIL)
    history = text_of((await owner.get("/staff/history?kind=role")).text)
    assert "2 changes" in history
    assert f"{STAFF_EMAIL} role of {SHOPPER_EMAIL}: staff → shopper" in history
    assert f"{STAFF_EMAIL} role of {SHOPPER_EMAIL}: shopper → staff" in history


@pytest.mark.gen_test
async def test_nobody_changes_their_own_role_or_an_owners(owner, services):
    me = await user(services, STAFF_EMAIL)
    before = await store_snapshot(services)
    response = await change(owner, me, False)
    assert response.code == 403
    assert "You can't change your own role" in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_staff_who_are_not_owners_see_users_but_cannot_change_roles(owner, services):
    await services.accounts.register(OTHER_STAFF, PASSWORD, staff=True)
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    clerk = owner.another()
    await clerk.login(OTHER_STAFF)
    page = await clerk.get("/staff/users")
    assert page.code == 200 and "Grant staff" not in page.text
    assert "Only an owner of the shop can grant or revoke the staff role." in text_of(page.text)

    before = await store_snapshot(services)
    response = await change(clerk, await user(services, SHOPPER_EMAIL), True)
    assert response.code == 403 and "Only an owner" in text_of(response.text)
    response = await change(clerk, await user(services, STAFF_EMAIL), False)
    assert response.code == 403
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_shoppers_anonymous_visitors_and_forged_forms_change_nothing(owner, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    shopper_client = owner.another()
    await shopper_client.login(SHOPPER_EMAIL)
    target = await user(services, SHOPPER_EMAIL)
    before = await store_snapshot(services)

    assert (await shopper_client.get("/staff/users")).code == 403
    assert (await change(shopper_client, target, True)).code == 403
    anonymous = owner.another()
    assert (await anonymous.get("/staff/users")).location == "/login?next=%2Fstaff%2Fusers"
    assert (await change(anonymous, target, True)).code == 303
    assert (await change(owner, target, True, xsrf=False)).code == 403
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_users_are_searched_by_email_and_paged(owner, services):
    for number in range(55):
        await services.db.users.insert_one({"email": f"reader{number:02d}@example.com", "staff": False,
                                            "session_version": 1, "created_at": datetime.datetime(2026, 1, 1)})
    found = (await owner.get("/staff/users?q=reader1")).text
    assert [role_of(found, f"reader{n}@example.com") for n in range(10, 20)] == ["Shopper"] * 10
    assert role_of(found, "reader20@example.com") is None and role_of(found, STAFF_EMAIL) is None
    first = (await owner.get("/staff/users")).text  # in email order: burt@, then reader00@ to reader48@
    assert "Page 1 of 2" in text_of(first)
    assert role_of(first, STAFF_EMAIL) == "Owner" and role_of(first, "reader48@example.com") == "Shopper"
    second = (await owner.get("/staff/users?page=2")).text
    assert [role_of(second, f"reader{n}@example.com") for n in range(49, 55)] == ["Shopper"] * 6
    assert role_of(second, "reader48@example.com") is None


@pytest.mark.gen_test(timeout=60)  # five commands, each a process that opens the store
async def test_the_command_line_makes_owners(tmp_path):
    made = run_cli("create-user", OTHER_STAFF, "--staff", data_dir=tmp_path, stdin=PASSWORD + "\n")
    assert (made.returncode, made.stdout) == (0, f"created owner account {OTHER_STAFF}\n")  # the first staff
    made = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=tmp_path, stdin=PASSWORD + "\n")
    assert made.stdout == f"created staff account {STAFF_EMAIL}\n"
    made = run_cli("create-user", STAFF_EMAIL, "--owner", data_dir=tmp_path)
    assert (made.returncode, made.stdout) == (0, f"{STAFF_EMAIL} is now an owner\n")
    async with store(tmp_path) as db:
        assert (await db.users.find_one({"email": STAFF_EMAIL}))["owner"] is True
    run_cli("create-user", STAFF_EMAIL, "--no-staff", data_dir=tmp_path)
    async with store(tmp_path) as db:
        assert await db.users.find_one({"email": STAFF_EMAIL}, {"_id": 0, "staff": 1, "owner": 1}) == {
            "staff": False, "owner": False}


@pytest.mark.gen_test
async def test_an_account_without_an_email_is_listed_and_can_be_made_staff(owner, services):
    """Social sign-in makes accounts without an email when the provider verified none."""
    made = await services.db.users.insert_one({"name": "Ada", "staff": False, "session_version": 1,
                                               "created_at": datetime.datetime(2026, 1, 1)})
    assert "Ada (no email)" in text_of((await owner.get("/staff/users")).text)
    response = await owner.post(f"/staff/users/{made.inserted_id}/role", {"staff": "1"})
    assert f"Ada ({made.inserted_id}) is now staff." in text_of((await owner.get(response.location)).text)
