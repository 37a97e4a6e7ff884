"""Jinja2 for every page, with the helpers Tornado templates have.

Autoescape is on for everything. Anything that is already HTML (UI module
output, the XSRF field, linkify) is wrapped in Markup by the caller or here.
"""

from __future__ import annotations

import datetime
import functools
import json
import secrets
import types
import weakref
import zoneinfo
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.runtime
from markupsafe import Markup
from tornado import escape

from .catalog import price_text
from .inventory import availability, copies_text, stock_level
from .search_text import plain_text

PLAIN_TEXTS_KEPT = 256  # descriptions whose text is kept worked out
_PASS_ARG = "jinja_pass_arg"  # where jinja2.pass_context and its kind mark a callable
_DICT_ATTRIBUTES = frozenset(dir(dict))  # a document's methods, which Jinja2 reads before its fields


class Context(jinja2.runtime.Context):
    """Jinja2's, calling plain functions, methods and macros without looking for a mark first.

    Jinja2 asks every callable a template calls whether it, or its `__call__`, is marked
    `pass_context` (or the like): two attribute lookups that fail, each raising and catching
    an AttributeError, a microsecond a call where a page makes dozens (static_url, reverse_url,
    the macros). A function or method carries its mark in its own `__dict__`, the `__call__` of
    either is a method-wrapper that can carry none, and a macro has none. Anything else, or
    anything marked, goes Jinja2's way.
    """

    # Named as in Jinja2, so that a template may pass any keyword, `self` and `obj` too.
    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        kind = type(__obj)
        function = __obj.__func__ if kind is types.MethodType else __obj
        if (kind is not jinja2.runtime.Macro
                and (type(function) is not types.FunctionType or _PASS_ARG in function.__dict__)):
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined("value was undefined because a callable raised a"
                                                " StopIteration exception")


class Environment(jinja2.Environment):
    """Jinja2's, with each template's globals in one plain dict, the faster `Context`, and fields read at once.

    Every render copies its template's globals into a new context, and from Jinja2's
    ChainMap (which lets later changes to the environment's globals reach templates
    already loaded) that copy goes key by key through both maps. The shop sets all its
    globals before it loads a template, as Jinja2 asks, so there are no later changes.
    """

    context_class = Context

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `book.title`: Jinja2 looks for an attribute first, and on a document (a dict) that fails,
        # raising and catching an AttributeError, for every field a page shows. A dict has only
        # its methods as attributes, so a field that is not a method's name is read as an item.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make_environment(template_dir: Path, debug: bool = False,
                     timezone: str = "UTC") -> jinja2.Environment:
    env = Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        # Every template is loaded at start-up (compile_all): a plain dict keeps them, where the
        # default LRU takes a lock on every lookup, and every render and import looks one up.
        cache_size=-1,
        autoescape=True,
        # Debug mode re-reads changed templates; Tornado's own loader reset never
        # reaches Jinja2, since SharedPageRendering.render_string is ours.
        auto_reload=debug,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        linkify=lambda text, **kw: Markup(escape.linkify(text, **kw)),
        json_encode=escape.json_encode,
        url_escape=escape.url_escape,
        squeeze=escape.squeeze,
    )
    env.filters["price"] = lambda cents: "$" + price_text(cents)
    env.filters["copies"] = copies_text
    env.filters["json_ld"] = json_ld
    # A book's page shows its description as text twice (its meta description, its JSON-LD data).
    env.globals.update(availability=availability, stock_level=stock_level,
                       plain_text=functools.lru_cache(maxsize=PLAIN_TEXTS_KEPT)(plain_text))
    zone = zoneinfo.ZoneInfo(timezone)
    env.filters["when"] = lambda moment: when(moment, zone)
    env.filters["time_of_day"] = lambda moment: local(moment, zone).strftime("%H:%M")
    return env


def compile_all(env: jinja2.Environment) -> int:
    """Compile every template now and work out what each reads (`names_read`), and say how
    many: the first request for each would otherwise hold the event loop for the 10 to 30 ms
    Jinja2 takes to compile it, and as long again to parse it for what it reads."""
    names = env.list_templates()
    for name in names:
        names_read(env.get_template(name))
    return len(names)


def json_ld(data: dict) -> Markup:
    """JSON for a <script type="application/ld+json">: no "<", ">" or "&" that could end the script."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def local(moment: datetime.datetime, timezone: datetime.tzinfo) -> datetime.datetime:
    """A stored moment (naive UTC, as MongoDB gives it back) in the shop's time zone."""
    return moment.replace(tzinfo=datetime.UTC).astimezone(timezone)


def when(moment: datetime.datetime, timezone: datetime.tzinfo) -> str:
    """A date and time as people write them: 26 Nov 2026, 14:05."""
    shown = local(moment, timezone)
    return f"{shown.day} {shown:%b %Y, %H:%M}"


def render(env: jinja2.Environment, name: str, namespace: dict) -> bytes:
    # Bytes, because Tornado's render() looks for </head> and </body> in bytes.
    return env.get_template(name).render(namespace).encode("utf-8")


_NAMES_READ: weakref.WeakKeyDictionary[jinja2.Template, frozenset[str] | None] = weakref.WeakKeyDictionary()


def names_read(template: jinja2.Template) -> frozenset[str] | None:
    """The names `template` reads from what it is rendered with; None when it includes, imports or
    extends another template (which may read anything), or has no source to read. Per template
    object, so a template that debug mode reloads is read afresh."""
    if template not in _NAMES_READ:
        env = template.environment
        if env.loader is None or template.name is None:
            _NAMES_READ[template] = None
        else:
            tree = env.parse(env.loader.get_source(env, template.name)[0])
            reads_others = any(True for _ in jinja2.meta.find_referenced_templates(tree))
            _NAMES_READ[template] = None if reads_others else frozenset(jinja2.meta.find_undeclared_variables(tree))
    return _NAMES_READ[template]


class ModuleNamespace:
    """`modules.Book(book)` in a template: Tornado's UI module call, marked safe."""

    def __init__(self, tornado_namespace):
        self._modules = tornado_namespace

    def __getattr__(self, name: str):
        render_module = self._modules[name]
        return lambda *args, **kwargs: Markup(render_module(*args, **kwargs))


# Marks a visitor part's slot in a shared page: random, so no book or visitor text can forge one.
SLOT = "\x00" + secrets.token_hex(8) + "\x00"


def slots(page: bytes | str) -> list[bytes]:
    """A rendered shared page as [text, part, text, part, ..., text]: odd places name a visitor part."""
    data = page if isinstance(page, bytes) else page.encode("utf-8")
    return data.split(SLOT.encode())
