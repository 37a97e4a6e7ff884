"""The shop as an operator installs it: a wheel built from the repository, in a fresh
virtual environment outside the checkout, with no checkout to lean on."""

import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.constants import STARTER_BOOKS
from tests.shop_process import ShopProcess, shop_environment

REPOSITORY = Path(__file__).resolve().parent.parent


def run(*command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=shop_environment(), timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


@pytest.fixture(scope="module")
def installed_shop(tmp_path_factory):
    """The venv's `burts-books`, installed from a freshly built wheel; returns (bin folder, workdir)."""
    work = tmp_path_factory.mktemp("installed")
    # Built from a copy, so setuptools' build/ and egg-info never land in the checkout.
    source = work / "source"
    shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "*.egg-info", "__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", str(work / "dist"), str(source), cwd=work)
    (wheel,) = (work / "dist").glob("burts_books-*.whl")
    run(sys.executable, "-m", "venv", str(work / "venv"), cwd=work)
    run(str(work / "venv" / "bin" / "pip"), "install", "--quiet", str(wheel), cwd=work)
    return work / "venv" / "bin", work


def test_the_wheel_carries_every_template_static_file_and_migration(installed_shop):
    bin_dir, work = installed_shop
    package = Path(run(str(bin_dir / "python"), "-c", "import burts_books; print(burts_books.__file__)",
                       cwd=work).strip()).parent
    assert REPOSITORY not in package.parents, "the installed shop must not import from the checkout"
    for folder in ("templates", "static", "migrations"):
        shipped = {p.relative_to(package / "share" / folder) for p in (package / "share" / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        in_repository = {p.relative_to(REPOSITORY / folder) for p in (REPOSITORY / folder).rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts}
        assert shipped == in_repository, folder


def test_the_installed_shop_migrates_and_serves_pages_static_files_and_module_css(installed_shop):
    bin_dir, work = installed_shop
    data_dir = work / "data"
    assert "applied 0001_create_indexes" in run(
        str(bin_dir / "burts-books"), "migrate", f"--data-dir={data_dir}", cwd=work)
    with ShopProcess(data_dir, command=(str(bin_dir / "burts-books"),)) as shop:
        status, _, home = fetch(shop.url + "/")
        assert status == 200 and STARTER_BOOKS[-1]["title"] in home
        status, _, recommended = fetch(shop.url + "/recommended/")
        assert status == 200 and recommended.count('<article class="book"') == 12
        # The Book UI module asks for its CSS; Tornado puts the link in the page's head.
        (module_css,) = re.findall(r'href="(/static/css/book\.css\?v=\w+)"', recommended)
        status, content_type, css = fetch(shop.url + module_css)
        assert status == 200 and content_type.startswith("text/css") and ".book" in css
        status, content_type, script = fetch(shop.url + "/static/js/inventory.js")
        assert status == 200 and "javascript" in content_type and "WebSocket" in script
