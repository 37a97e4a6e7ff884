import pytest

@pytest.mark.gen_test
async def test_pages(client, staff):
    for path in ["/", "/recommended/", "/books/", "/books/9780596529321", "/books/?q=prog", "/api/books", "/api/books/9780596529321", "/nope", "/add", "/edit/9780596529321"]:
        r = await client.get(path)
        print(path, r.code, r.text[:3000] if r.code >= 400 or path in ("/recommended/",) else len(r.text))
