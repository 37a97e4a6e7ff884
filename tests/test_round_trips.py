"""Every store query the shop makes is served by an index, and every page costs a bounded
number of round trips to the database, whatever the size of the catalog (no N+1)."""

import pytest

from tests.constants import PASSWORD, PCI, RESTFUL, STAFF_EMAIL, isbn_13
from tests.store import CollectionProxy


class Recorded(CollectionProxy):
    """A collection that notes every call the shop makes to the database through it."""

    def __init__(self, collection, name, calls):
        super().__init__(collection)
        self._name, self._calls = name, calls

    def _note(self, method, args, kwargs):
        first = args[0] if args else kwargs.get("filter", {})
        self._calls.append((self._name, method, first if isinstance(first, dict) else {}))

    async def around(self, name, args, kwargs, call):
        self._note(name, args, kwargs)
        return await call(*args, **kwargs)

    def cursor(self, name, args, kwargs, make):
        self._note(name, args, kwargs)
        return make(*args, **kwargs)


@pytest.fixture
def calls(services):
    recorded = []
    for owner, attribute, name in [
        (services.accounts, "users", "users"), (services.carts, "carts", "carts"),
        (services.carts, "books", "books"), (services.catalog, "books", "books"),
        (services.catalog_view, "_books_collection", "books"), (services.inventory, "books", "books"),
        (services.orders, "orders", "orders"),
    ]:
        setattr(owner, attribute, Recorded(getattr(owner, attribute), name, recorded))
    return recorded


def filter_fields(criteria: dict) -> set[str]:
    """The fields a filter narrows by, looking inside $and / $or."""
    fields = set()
    for key, value in criteria.items():
        if key in ("$and", "$or"):
            for part in value:
                fields |= filter_fields(part)
        elif not key.startswith("$"):
            fields.add(key)
    return fields


async def index_prefixes(services) -> dict[str, list[tuple[str, ...]]]:
    prefixes = {}
    for name in ("books", "carts", "orders", "users"):
        info = await getattr(services.db, name).index_information()
        prefixes[name] = [tuple(field for field, _ in index["key"]) for index in info.values()]
    return prefixes


@pytest.mark.gen_test
async def test_the_migrations_create_the_indexes_the_queries_need(services):
    prefixes = await index_prefixes(services)
    assert {keys for keys in prefixes["books"]} >= {("_id",), ("isbn",), ("keywords",), ("date_added",)}
    assert ("user_id", "status") in prefixes["carts"] and ("status", "touched_at") in prefixes["carts"]
    assert ("user_id", "created_at") in prefixes["orders"] and ("cart_id",) in prefixes["orders"]
    assert ("email",) in prefixes["users"]


@pytest.mark.gen_test
async def test_every_query_of_a_shopping_day_starts_with_an_indexed_field(services, shopper, calls):
    await shopper.cart_json("add", PCI)
    await shopper.cart_json("add", RESTFUL)
    await shopper.cart_json("remove", RESTFUL)
    for path in ("/", "/recommended/", "/books/?q=python", f"/books/{PCI}", "/cart", "/orders",
                 f"/cart/status?isbn={PCI}&version=0"):
        assert (await shopper.get(path)).code == 200, path
    assert (await shopper.check_out(name="Ada Reader")).code == 303
    await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    staff = shopper.another()
    await staff.login(STAFF_EMAIL)
    assert (await staff.get(f"/edit/{PCI}")).code == 200
    await services.housekeeping(cart_ttl_seconds=1)

    prefixes = await index_prefixes(services)
    for collection, method, criteria in calls:
        fields = filter_fields(criteria)
        if not fields:
            # A full read: only the catalog view's load and reconciliation read every book.
            assert (collection, method) in {("books", "find")}, (collection, method)
            continue
        assert any(keys[0] in fields for keys in prefixes[collection]), (collection, method, criteria)


async def page_costs(shopper, calls) -> dict[str, int]:
    assert (await shopper.get("/")).code == 200  # the cart just changed: read it once
    costs = {}
    for path in ("/", "/recommended/", "/books/", "/books/?q=web", f"/books/{PCI}", f"/api/books/{PCI}",
                 "/api/books?q=python", "/cart"):
        calls.clear()
        assert (await shopper.get(path)).code == 200
        costs[path] = len(calls)
    return costs


@pytest.mark.gen_test
async def test_pages_cost_the_same_few_round_trips_whatever_the_catalog_size(services, shopper, calls):
    await shopper.cart_json("add", PCI)
    await shopper.cart_json("add", RESTFUL)
    costs = await page_costs(shopper, calls)
    # The session's user and the cart (the embedded store's own process keeps them while neither
    # changes: visitors.py); the books come from the catalog view, and the cart page reads its
    # books in one query.
    visitor = 0 if services.db.embedded else 2
    assert costs == {**dict.fromkeys(costs, visitor), "/cart": visitor + 1}

    for n in range(60):
        await services.catalog.add({"isbn": isbn_13(n), "title": f"Python Web Book {n}", "author": "Ada Writer",
                                    "price": "10", "stock": "3"}, STAFF_EMAIL)
    assert await page_costs(shopper, calls) == costs
