"""Jinja2 renders the pages, and Tornado still places what UI modules ask for."""

import re

import jinja2
import pytest
import tornado.web

from burts_books import templating
from burts_books.web.base import BaseHandler
from burts_books.web.static_files import StaticFiles


class Shelf(tornado.web.UIModule):
    """A module that asks for every kind of resource Tornado can place in a page."""

    def render(self, label):
        return self.render_string("shelf.html", label=label)

    # Absolute paths, which Tornado links as they are (relative ones go through static_url).
    def css_files(self):
        return "/assets/shelf.css"

    def javascript_files(self):
        return "/assets/shelf.js"

    def embedded_css(self):
        return ".shelf { color: teal }"

    def embedded_javascript(self):
        return "window.shelfReady = true;"


class ShelfPage(BaseHandler):
    def get(self):
        self.render("shelf_page.html", labels=self.get_arguments("label"))


class VersionedPage(BaseHandler):
    """A page that, unlike the shop's, names its version: If-None-Match works as Tornado has it."""

    def compute_etag(self):
        return '"v1"'

    def get(self):
        self.write("version one")


@pytest.fixture
def app(app):
    # Test-only templates beside the real ones, so the page still extends main.html.
    jinja = app.settings["jinja"]
    jinja.loader = jinja2.ChoiceLoader([
        jinja2.DictLoader({
            "shelf_page.html": '{% extends "main.html" %}{% block body %}'
                               "{% for label in labels %}{{ modules.Shelf(label) }}{% endfor %}{% endblock %}",
            "shelf.html": '<div class="shelf">{{ label }}</div>',
        }),
        jinja.loader,
    ])
    app.ui_modules["Shelf"] = Shelf
    app.add_handlers(r".*", [(r"/shelf", ShelfPage), (r"/versioned", VersionedPage)])
    return app


@pytest.mark.gen_test
async def test_module_resources_are_placed_once_in_head_and_body(client):
    response = await client.get("/shelf?label=one&label=two")
    assert response.code == 200
    head, body = response.text.split("</head>")
    assert head.count('href="/assets/shelf.css"') == 1
    assert head.count(".shelf { color: teal }") == 1
    # Embedded script and style carry the response's nonce, the only way the policy lets them run.
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'self' 'nonce-([\w-]+)'", policy).group(1)
    assert "unsafe-inline" not in policy and f"style-src 'self' 'nonce-{nonce}'" in policy
    assert f'<style nonce="{nonce}">' in head and f'<script nonce="{nonce}">' in body
    other = await client.get("/shelf?label=one")
    assert nonce not in other.headers["Content-Security-Policy"]  # a fresh one per response
    scripts = body.split("</main>")[1]  # after the page content, before </body>
    assert scripts.count('src="/assets/shelf.js"') == 1
    assert scripts.count("window.shelfReady = true;") == 1
    assert body.index("window.shelfReady") < body.index("</body>")


@pytest.mark.gen_test
async def test_module_output_is_markup_but_what_it_shows_is_escaped(client):
    response = await client.get("/shelf?label=%3Cb%3Ebold%3C/b%3E")
    assert '<div class="shelf">&lt;b&gt;bold&lt;/b&gt;</div>' in response.text


@pytest.mark.gen_test
async def test_only_an_answer_with_an_etag_can_be_not_modified(client):
    # The shop's pages have no ETag: whatever a cache sends, it gets the page.
    assert (await client.get("/shelf?label=one", headers={"If-None-Match": "*"})).code == 200
    assert (await client.get("/versioned", headers={"If-None-Match": '"v1"'})).code == 304
    changed = await client.get("/versioned", headers={"If-None-Match": '"v0"'})
    assert changed.code == 200 and changed.text == "version one"


def test_a_static_address_follows_its_file_in_debug_mode_and_is_worked_out_once_otherwise(tmp_path):
    style = tmp_path / "site.css"
    style.write_text("body { color: black }")
    debug = {"static_path": str(tmp_path), "static_hash_cache": False}
    kept = {"static_path": str(tmp_path)}
    first = StaticFiles.make_static_url(debug, "site.css")
    # 16 hex digits of the content's hash: Tornado's whole SHA-512 made every address 112 bytes longer.
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{16}", first)
    assert StaticFiles.make_static_url(kept, "site.css") == first
    style.write_text("body { color: teal }")
    StaticFiles.reset()  # what Tornado does before each request in debug mode
    changed = StaticFiles.make_static_url(debug, "site.css")
    assert changed != first
    # Served from a wheel, a file can't change while the shop runs: the address found first stays.
    assert StaticFiles.make_static_url(kept, "site.css") == first


class Greeter:
    @jinja2.pass_context
    def __call__(self, context, greeting):
        return f"{greeting}, {context['name']}"

    def plain(self, word, end="."):
        return word + end

    @jinja2.pass_environment
    def marked(self, environment, word):
        return f"{word} ({isinstance(environment, jinja2.Environment)})"  # Jinja2 hands it the environment


def _stops():
    raise StopIteration


CALLS = """{% macro shout(word) %}{{ word | upper }}{{ caller() if caller else "" }}{% endmacro -%}
{% block main %}{% for name in names %}[{{ who() }} {{ greet("Hello") }} {{ g.plain(name, end="!") }}
{{ g.marked(name) }} {{ shout(name) }} {% call shout(name) %}+{% endcall %} {{ stops() }}]{% endfor %}{% endblock %}"""


def test_templates_call_functions_methods_and_macros_as_jinja2_does():
    # The shop's Context skips Jinja2's look for a pass_context mark where none can be; what a
    # page shows must not change, inside loops and blocks, marked or not, for every kind of callable.
    @jinja2.pass_context
    def who(context):
        return context.get("name")  # from the context the template was rendered with

    names = {"names": ["ann", "bo"], "name": "outer", "who": who, "greet": Greeter(), "g": Greeter(),
             "stops": _stops}
    ours = templating.Environment(autoescape=True).from_string(CALLS).render(names)
    assert ours == jinja2.Environment(autoescape=True).from_string(CALLS).render(names)
    assert ours == "[outer Hello, outer ann!\nann (True) ANN ANN+ ][outer Hello, outer bo!\nbo (True) BO BO+ ]"


FIELDS = """{{ book.title }}|{{ book.get("subtitle", "none") }}|{{ book.items() | list | length }}
|{{ book.keys | default("?") }}|{{ book["title"] }}|{{ shelf.title }}|{{ book.missing is defined }}
|{{ book.nested.inner }}"""


class Titled:
    title = "An attribute"


def test_templates_read_document_fields_and_dict_methods_as_jinja2_does():
    book = {"title": "Fluent Python", "keys": "a field named like a method", "nested": {"inner": 1}}
    names = {"book": book, "shelf": Titled()}
    for strict in (False, True):
        undefined = jinja2.StrictUndefined if strict else jinja2.Undefined
        ours = templating.Environment(autoescape=True, undefined=undefined).from_string(FIELDS).render(names)
        assert ours == jinja2.Environment(autoescape=True, undefined=undefined).from_string(FIELDS).render(names)
        # A method of dict wins over a field of its name, as in Jinja2.
        assert ours.startswith("Fluent Python|none|3\n|&lt;built-in method keys")
        assert ours.endswith("|Fluent Python|An attribute|False\n|1")
    with pytest.raises(jinja2.UndefinedError):
        templating.Environment(undefined=jinja2.StrictUndefined).from_string("{{ book.missing }}").render(names)
