"""axe-core, the accessibility checker, from the npm registry: one pinned version, checked by its digest.

Fetched with `npm pack` the first time the browser tests run and kept under
build/ (ignored by git), so a fresh clone needs nothing but npm.
"""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from pathlib import Path

from playwright.sync_api import Page

VERSION = "4.14.1"
SHA1 = "14d8a6f3f085afd126b8b5ca1e42e50e17fb1d99"  # the registry's shasum of axe-core-4.14.1.tgz
CACHE = Path(__file__).resolve().parents[2] / "build" / f"axe-core-{VERSION}"
# WCAG 2.2 A and AA, and axe's best practices (one <h1>, landmarks, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


class AxeUnavailable(RuntimeError):
    pass


def axe_source() -> str:
    script = CACHE / "axe.min.js"
    if not script.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "pack", f"axe-core@{VERSION}", "--pack-destination", str(CACHE)],
                           check=True, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            raise AxeUnavailable(f"could not fetch axe-core {VERSION} with npm (apt-get install npm): {exc}") from exc
        package = CACHE / f"axe-core-{VERSION}.tgz"
        digest = hashlib.sha1(package.read_bytes()).hexdigest()
        if digest != SHA1:
            raise AxeUnavailable(f"axe-core-{VERSION}.tgz has SHA-1 {digest}, not the pinned {SHA1}")
        with tarfile.open(package) as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            script.write_bytes(member.read())
    return script.read_text(encoding="utf-8")


def violations(page: Page, source: str) -> list[str]:
    """What axe-core finds wrong with the page as it is now, one line per rule and element."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # through the DevTools protocol: the page's CSP stays as strict as ever
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                          ".then(r => r.violations.map(v => [v.id, v.help, v.nodes.map(n => n.target.join(' '))]))",
                          TAGS)
    return [f"{rule} ({help_}): {', '.join(nodes)}" for rule, help_, nodes in found]
