"""What an operator relies on: health and readiness probes, metrics, the access log and its request ids,
and a process that shuts down without dropping what it was doing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from burts_books.infra import access_log, resources
from burts_books.live import Outbox
from tests.constants import COOKIE_SECRET, PCI, RESTFUL
from tests.shop_client import ShopClient, status_url
from tests.shop_process import ShopProcess, run_cli
from tests.waiting import until
from tests.websocket_client import connect, receive, subscribe

HEX_ID = re.compile(r"[0-9a-f]{32}")


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text page, by name and labels; fails if the page does not parse."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def metrics(client: ShopClient) -> dict[tuple[str, tuple], float]:
    response = await client.get("/metrics")
    assert response.code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return samples(response.text)


def requests_of(page: dict, route: str, status: str = "200") -> float:
    return page.get(("burts_books_http_requests_total", (("method", "GET"), ("route", route), ("status", status))), 0)


@pytest.mark.gen_test
async def test_probes_say_alive_and_ready_and_not_ready_while_draining(client, app):
    alive = await client.get("/healthz")
    assert alive.code == 200 and alive.json() == {"status": "alive"}
    assert alive.headers["Cache-Control"] == "no-store"
    ready = await client.get("/readyz")
    assert ready.code == 200 and ready.json() == {"status": "ready", "failing": []}

    app.draining = True  # as on SIGTERM
    draining = await client.get("/readyz")
    assert draining.code == 503 and draining.json() == {"status": "draining", "failing": []}
    assert (await client.get("/healthz")).code == 200


@pytest.mark.gen_test
async def test_metrics_count_requests_by_route_never_by_raw_path_and_read_the_shop(client):
    before = await metrics(client)
    for isbn in (PCI, RESTFUL, PCI):
        assert (await client.get(f"/books/{isbn}")).code == 200
    assert (await client.get("/no/such/page")).code == 404
    assert (await client.cart_json("add")).code == 200
    after = await metrics(client)

    assert requests_of(after, "book") - requests_of(before, "book") == 3
    assert requests_of(after, "not_found", "404") - requests_of(before, "not_found", "404") == 1
    assert not any(PCI in value or "/no/such" in value for _, labels in after for _, value in labels)
    assert after[("burts_books_http_request_duration_seconds_count", (("route", "book"),))] >= 3
    assert after[("burts_books_cart_holds_taken_total", ())] - before[("burts_books_cart_holds_taken_total", ())] == 1
    published = ("burts_books_bus_events_published_total", ())
    assert after[published] > before[published]
    assert ("burts_books_websockets_open", ()) in after and ("burts_books_long_polls_held", ()) in after


@pytest.mark.gen_test
async def test_made_up_methods_are_counted_as_other_and_add_no_series(client, http_client, base_url):
    before = await metrics(client)
    for n in range(50):
        made_up = await http_client.fetch(f"{base_url}/books/", method=f"MADEUP{n}", allow_nonstandard_methods=True,
                                          raise_error=False)
        assert made_up.code == 405
    assert (await client.fetch("/books/", method="OPTIONS")).code == 405
    after = await metrics(client)

    methods = {value for _, labels in after for label, value in labels if label == "method"}
    assert not any(method.startswith("MADEUP") for method in methods), methods
    other = ("burts_books_http_requests_total", (("method", "other"), ("route", "catalog"), ("status", "405")))
    assert after[other] - before.get(other, 0) == 50
    options = ("burts_books_http_requests_total", (("method", "OPTIONS"), ("route", "catalog"), ("status", "405")))
    assert after[options] - before.get(options, 0) == 1


@pytest.mark.gen_test
async def test_every_answer_carries_a_request_id_that_the_error_page_and_the_access_log_show(client, caplog):
    with caplog.at_level(logging.INFO, logger="burts_books.access"):
        page = await client.get(f"/books/{PCI}")
        # Without --xheaders anyone could choose the id: the shop makes its own.
        missing = await client.get("/no/such/page", headers={"X-Request-Id": "chosen-by-the-client"})
    assert HEX_ID.fullmatch(page.headers["X-Request-Id"])
    rid = missing.headers["X-Request-Id"]
    assert HEX_ID.fullmatch(rid) and rid != page.headers["X-Request-Id"]
    assert f"quote request <code>{rid}</code>" in missing.text
    lines = [record.getMessage() for record in caplog.records if record.name == "burts_books.access"]
    assert re.fullmatch(rf"GET /books/{PCI} 200 \d+\.\dms 127\.0\.0\.1 id={page.headers['X-Request-Id']}", lines[0])
    assert lines[1].startswith("GET /no/such/page 404 ") and lines[1].endswith(f"id={rid}")
    assert caplog.records[-1].levelno == logging.WARNING


@pytest.mark.gen_test
async def test_answered_long_polls_are_counted_but_logged_only_as_debug(client, caplog):
    before = await metrics(client)
    with caplog.at_level(logging.DEBUG, logger="burts_books.access"):
        answered = await client.get(status_url((PCI, 0)))  # older than the book's: answered at once
        refused = await client.get(status_url((PCI, "new")))
        page = await client.get(f"/books/{PCI}")
    after = await metrics(client)

    def level_of(response) -> int:
        rid = response.headers["X-Request-Id"]
        [record] = [record for record in caplog.records if record.name == "burts_books.access"
                    and record.getMessage().endswith(f"id={rid}")]
        return record.levelno

    assert answered.code == 200 and level_of(answered) == logging.DEBUG
    assert refused.code == 400 and level_of(refused) == logging.WARNING
    assert page.code == 200 and level_of(page) == logging.INFO
    assert requests_of(after, "cart_status") - requests_of(before, "cart_status") == 1


@pytest.mark.settings(xheaders=True)
@pytest.mark.gen_test
async def test_behind_nginx_the_request_id_is_nginx_own_when_well_formed(proxied_url, http_client):
    client = ShopClient(http_client, proxied_url)
    given = await client.get("/no/such/page", headers={"X-Request-Id": "0123456789abcdef0123456789abcdef"})
    assert given.headers["X-Request-Id"] == "0123456789abcdef0123456789abcdef"
    assert "0123456789abcdef0123456789abcdef" in given.text
    garbled = await client.get("/", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert HEX_ID.fullmatch(garbled.headers["X-Request-Id"])


def test_json_access_lines_are_one_object_each_without_the_query_string():
    class Request:
        method, path, remote_ip = "GET", "/api/books", "192.0.2.1"

    line = access_log.line(Request(), 200, 12.345, "abc", as_json=True)  # type: ignore[arg-type]
    assert json.loads(line) == {"method": "GET", "path": "/api/books", "status": 200, "ms": 12.3,
                                "request_id": "abc", "remote_ip": "192.0.2.1"}


@pytest.mark.gen_test(timeout=30)
async def test_access_log_json_writes_json_lines(tmp_path, http_client):
    with ShopProcess(tmp_path, "--access-log-json", f"--cookie-secret={COOKIE_SECRET}") as shop:
        response = await ShopClient(http_client, shop.url).get("/api/books?q=secret")
        rid = response.headers["X-Request-Id"]
        await until(lambda: rid in shop.log())
    [line] = [line for line in shop.log().splitlines() if rid in line]
    assert json.loads(line) == {"method": "GET", "path": "/api/books", "status": 200, "ms": json.loads(line)["ms"],
                                "request_id": rid, "remote_ip": "127.0.0.1"}


@pytest.mark.gen_test(timeout=30)
async def test_a_serving_shop_logs_a_line_for_each_answer_that_begins_as_the_rest_of_its_log(tmp_path, http_client):
    with ShopProcess(tmp_path, f"--cookie-secret={COOKIE_SECRET}") as shop:
        client = ShopClient(http_client, shop.url)
        answers = await asyncio.gather(*(client.get(path) for path in ("/recommended/", "/no/such/page", "/books/")))
        ids = [answer.headers["X-Request-Id"] for answer in answers]
        await until(lambda: all(rid in shop.log() for rid in ids))
    log = shop.log().splitlines()
    lines = [line for line in log if any(rid in line for rid in ids)]
    stamp = r"\d{6} \d\d:\d\d:\d\d"
    assert [re.fullmatch(rf"\[([IW]) {stamp} access\] GET (\S+) (\d+) \d+\.\dms 127\.0\.0\.1 id=[0-9a-f]{{32}}",
                         line).groups() for line in sorted(lines, key=lambda line: ids.index(line[-32:]))] == [
        ("I", "/recommended/", "200"), ("W", "/no/such/page", "404"), ("I", "/books/", "200")]
    # The start's lines are Tornado's, and begin alike.
    assert any(re.match(rf"\[I {stamp} cli:\d+\] Burt's Books \(process", line) for line in log)


def test_access_lines_of_one_turn_are_written_together_in_their_order():
    writes: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            writes.append("<flush>")

    async def two_turns(lines: access_log.TurnLines) -> None:
        lines.add(logging.INFO, "GET / 200")
        lines.add(logging.WARNING, "GET /nothing 404")
        assert writes == []  # the turn is not over
        await asyncio.sleep(0)
        lines.add(logging.ERROR, "POST /cart 500")
        await asyncio.sleep(0)

    asyncio.run(two_turns(access_log.TurnLines(Stream(), as_json=False)))
    assert [re.sub(r"\d{6} \d\d:\d\d:\d\d", "T", write) for write in writes] == [
        "[I T access] GET / 200\n[W T access] GET /nothing 404\n", "<flush>",
        "[E T access] POST /cart 500\n", "<flush>"]
    writes.clear()
    asyncio.run(two_turns(access_log.TurnLines(Stream(), as_json=True)))
    assert writes == ["GET / 200\nGET /nothing 404\n", "<flush>", "POST /cart 500\n", "<flush>"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("flags, loop", [((), "uvloop"), (("--event-loop=asyncio",), "asyncio")])
async def test_the_shop_serves_on_the_event_loop_chosen(tmp_path, http_client, flags, loop):
    with ShopProcess(tmp_path, *flags, f"--cookie-secret={COOKIE_SECRET}") as shop:
        client = ShopClient(http_client, shop.url)
        assert "Programming Collective Intelligence" in (await client.get("/recommended/")).text
        assert (await client.cart_json("add")).code == 200
    log = shop.log()
    assert f"is serving on {shop.url}/ ({loop} event loop)" in log
    # Every template compiled before the first request, which would otherwise wait for its page's.
    compiled = re.search(r"(\d+) templates compiled in \d+ ms", log)
    assert compiled and int(compiled[1]) == len(list(resources.TEMPLATES.rglob("*.html")))
    assert compiled.start() < log.index("is serving on")
    # And the store's indexes built: the first sign-in would otherwise build the carts' by account.
    indexed = re.search(r"embedded store: (\d+) indexes built", log)
    assert indexed and int(indexed[1]) >= 3 and indexed.start() < log.index("is serving on")


@pytest.mark.gen_test(timeout=30)
async def test_readyz_names_redis_while_it_is_down_and_recovers_with_it(tmp_path, redis_server, http_client):
    flags = (f"--redis-url={redis_server.url}", f"--cookie-secret={COOKIE_SECRET}")
    with ShopProcess(tmp_path, *flags) as shop:
        client = ShopClient(http_client, shop.url)
        assert (await client.get("/readyz")).json() == {"status": "ready", "failing": []}
        redis_server.stop()
        down = await client.get("/readyz")
        assert down.code == 503 and down.json() == {"status": "not ready", "failing": ["redis"]}
        assert (await client.get("/healthz")).code == 200  # alive all the same: no reason to restart it
        redis_server.start()

        async def ready() -> bool:
            return (await client.get("/readyz")).code == 200

        await until(ready, timeout=10)


@pytest.mark.gen_test(timeout=30)
async def test_sigterm_answers_long_polls_closes_websockets_with_1001_and_exits(tmp_path, http_client):
    shop = ShopProcess(tmp_path, f"--cookie-secret={COOKIE_SECRET}").start()
    try:
        client = ShopClient(http_client, shop.url)
        socket_ = await connect(shop.url)
        subscribe(socket_, [PCI])
        first = await receive(socket_)
        poll = asyncio.ensure_future(client.poll((PCI, first["version"])))

        async def held() -> bool:
            return "burts_books_long_polls_held 1.0" in (await client.get("/metrics")).text

        await until(held)
        started = time.monotonic()
        shop.process.send_signal(signal.SIGTERM)
        # The held poll is answered at once with what the shop has: the page polls again, elsewhere.
        assert await poll == [{k: first[k] for k in ("isbn", "available", "version")}]
        assert await socket_.read_message() is None
        assert socket_.close_code == 1001
        assert shop.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        shop.stop()
    assert "shut down in" in shop.log()


WEBSOCKET_UPGRADE = (b"GET /cart/status/ws HTTP/1.1\r\nHost: shop\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def everything_read(connection: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):  # a reset is a connection the shop closed, too
        while chunk := connection.recv(65536):
            data += chunk
    return data


def test_no_websocket_is_cut_without_a_close_code_when_it_opens_on_a_connection_idle_at_sigterm(tmp_path):
    """nginx sends a page's reconnection on an upstream connection it keeps open: if that connection was
    idle when the shop began to drain, the shop either closes it unanswered (nginx then tries the next
    process) or, if it already upgraded it, closes the socket with 1001. Never a socket cut silently."""
    shop = ShopProcess(tmp_path, f"--cookie-secret={COOKIE_SECRET}").start()
    try:
        idle = []
        for _ in range(40):
            connection = socket.create_connection(("127.0.0.1", shop.port), timeout=5)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n")
            while b"\r\n\r\n" not in connection.recv(65536, socket.MSG_PEEK):
                time.sleep(0.01)
            connection.recv(65536)
            idle.append(connection)
        shop.process.send_signal(signal.SIGTERM)
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.sendall(WEBSOCKET_UPGRADE)
        endings = []
        for connection in idle:
            answer = everything_read(connection)
            connection.close()
            upgraded, _, frames = answer.partition(b"\r\n\r\n")
            if not upgraded.startswith(b"HTTP/1.1 101"):
                endings.append("closed unanswered" if not answer else upgraded.split(b"\r\n")[0].decode())
            elif frames[:1] == b"\x88" and frames[2:4] == (1001).to_bytes(2, "big"):  # a close frame, short reason
                endings.append("closed with 1001")
            else:
                endings.append("cut without a close code")
        assert shop.process.wait(timeout=10) == 0
    finally:
        shop.stop()
    assert set(endings) <= {"closed unanswered", "closed with 1001"}, endings


@pytest.mark.gen_test
async def test_a_socket_that_opens_while_the_shop_drains_is_closed_and_waited_for(services):
    feed = services.live
    feed.end_all()  # nobody watching: the shop could exit now
    await asyncio.wait_for(feed.all_gone(), 1)
    closed = []
    late = Outbox(wake=lambda: closed.append("going away"))  # its handshake was under way meanwhile
    feed.add(late)
    assert late.ended and closed == ["going away"]  # told to close with 1001 at once...
    waiting = asyncio.ensure_future(feed.all_gone())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # ...and the shop waits for that close before it exits
    feed.discard(late)
    await asyncio.wait_for(waiting, 1)


def test_a_request_that_never_finishes_is_cut_off_at_the_shutdown_timeout(tmp_path):
    shop = ShopProcess(tmp_path, f"--cookie-secret={COOKIE_SECRET}", "--shutdown-timeout-seconds=1").start()
    try:
        # A body promised and never sent: a request under way that will not finish by itself.
        with socket.create_connection(("127.0.0.1", shop.port)) as stuck:
            stuck.sendall(b"POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 100\r\n\r\n")
            time.sleep(0.2)
            started = time.monotonic()
            shop.process.send_signal(signal.SIGTERM)
            assert shop.process.wait(timeout=10) == 0
            took = time.monotonic() - started
    finally:
        shop.stop()
    assert 1 <= took < 3
    assert "1 requests still under way after 1 s: cutting them off" in shop.log()


def test_serve_processes_refuses_the_embedded_store(tmp_path):
    result = run_cli("serve", "--processes=2", data_dir=tmp_path)
    assert result.returncode == 2
    assert "--processes needs MONGODB_URL and REDIS_URL" in result.stderr
    assert not (tmp_path / "embedded-store").exists()


@pytest.mark.gen_test(timeout=30)
async def test_a_second_shop_on_a_port_in_use_says_so_in_one_line_and_the_first_serves_on(tmp_path, http_client):
    with ShopProcess(tmp_path / "first", f"--cookie-secret={COOKIE_SECRET}") as shop:
        second = run_cli("serve", f"--port={shop.port}", f"--cookie-secret={COOKIE_SECRET}", data_dir=tmp_path)
        assert second.returncode == 2
        assert "Traceback" not in second.stderr
        assert second.stderr.splitlines()[-1] == (
            f"burts-books serve: can't listen on 127.0.0.1:{shop.port}: Address already in use"
        )
        assert (await ShopClient(http_client, shop.url).get("/readyz")).code == 200
