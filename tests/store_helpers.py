"""What the embedded store's tests and benchmark share."""


async def everything(db) -> dict:
    """Every collection's documents in natural order and its indexes, and each book as found by its ISBN."""
    state = {
        name: (await db.db[name].find().to_list(None), await db.db[name].index_information())
        for name in sorted(await db.db.list_collection_names())
    }
    books = state.get("books", ([], {}))[0]
    state["books by isbn"] = [await db.books.find_one({"isbn": book["isbn"]}) for book in books]
    return state


def isbn_13(number: int) -> str:
    """A valid ISBN-13 for each number (979 prefix), none of them in the starter catalog."""
    body = f"979{number:09d}"
    return body + str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10)
