"""The attacks of issue 9 replayed on one real shop process (embedded store, production argon2):

1. denial of inventory: --adds anonymous adds of one 50-copy title from one address, no
   cookies kept, all at once; how many went in and how many copies stayed on sale;
2. a sign-in flood: --sign-ins wrong sign-ins at once from --addresses addresses (by default
   each its own, so only the bound on argon2 holds them), while an account's owner signs in
   from elsewhere, trying again after Retry-After as a browser user would; the owner's wait
   and the shop's peak memory.

    .venv/bin/python -m tests.benchmarks.bench_abuse [--adds 60] [--sign-ins 100] [--addresses 100] [--unbounded]

--unbounded sets every limit out of reach: the shop as it was before them. The shop runs with
--xheaders and each client says its address in X-Real-IP, as nginx would. Loopback only,
bounded in count and time.
"""

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.benchmarks.bench_live_inventory import restock_to
from tests.constants import PASSWORD, PCI, STAFF_EMAIL
from tests.shop_client import ShopClient, adds_without_cookies
from tests.shop_process import ShopProcess, run_cli

UNBOUNDED = (
    "--anonymous-adds-per-address=100000", "--cart-adds-per-address-per-minute=100000",
    "--sign-in-attempts-per-address=100000", "--sign-in-attempts-per-account=100000",
    "--password-hashes-at-once=64", "--password-hash-queue=10000", "--sign-ins-at-once-per-address=10000",
)


def memory_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


async def hoard(http, url: str, adds: int) -> None:
    staff = ShopClient(http, url, "192.0.2.1")
    await staff.login(STAFF_EMAIL)
    copies = await restock_to(staff, 50)
    start = time.monotonic()
    answers = await adds_without_cookies(ShopClient(http, url, "203.0.113.66"), [PCI] * adds)
    elapsed = time.monotonic() - start
    codes = [answer.code for answer in answers]
    left = (await staff.get(f"/api/books/{PCI}")).json()["available"]
    print(f"denial of inventory: {adds} anonymous adds without cookies from one address in {elapsed:.2f} s: "
          f"{codes.count(200)} added, {codes.count(429)} refused (429); {left} of {copies} copies still on sale")


async def owner_signs_in(http, url: str) -> tuple[float, int]:
    """Seconds until the owner is signed in, and how many times the shop said to come back."""
    owner = ShopClient(http, url, "198.51.100.7")
    start, refusals = time.monotonic(), 0
    while True:
        answer = await owner.post("/login", {"email": STAFF_EMAIL, "password": PASSWORD})
        if answer.code != 429:
            assert answer.code == 302, answer.text
            return time.monotonic() - start, refusals
        refusals += 1
        await asyncio.sleep(int(answer.headers["Retry-After"]))


async def flood(http, url: str, sign_ins: int, addresses: int, pid: int) -> None:
    before = memory_mib(pid, "VmRSS")
    guesses = [
        ShopClient(http, url, f"10.1.{n % addresses // 256}.{n % addresses % 256}").post(
            "/login", {"email": f"guess{n}@example.com", "password": "a wrong guess"}
        )
        for n in range(sign_ins)
    ]
    start = time.monotonic()
    flooding = asyncio.gather(*guesses)
    await asyncio.sleep(0.05)  # the flood is in
    owner_seconds, refusals = await owner_signs_in(http, url)
    codes = [answer.code for answer in await flooding]
    elapsed = time.monotonic() - start
    where = f"{addresses} addresses" if addresses > 1 else "one address"
    print(f"sign-in flood: {sign_ins} wrong sign-ins at once from {where}, answered in {elapsed:.2f} s: "
          f"{codes.count(400)} checked, {codes.count(429)} refused (429)")
    print(f"  the owner, signing in from elsewhere meanwhile: signed in after {owner_seconds:.2f} s "
          f"({refusals} x 429 first)")
    print(f"  shop memory: {before:.0f} MiB before, peak {memory_mib(pid, 'VmHWM'):.0f} MiB")


async def run(shop: ShopProcess, args) -> None:
    # Unbounded, a sign-in can wait far longer than the client's usual 20 s.
    http = AsyncHTTPClient(max_clients=max(args.adds, args.sign_ins) + 10, defaults={"request_timeout": 240})
    await hoard(http, shop.url, args.adds)
    await flood(http, shop.url, args.sign_ins, args.addresses, shop.process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adds", type=int, default=60, help="max 500")
    parser.add_argument("--sign-ins", type=int, default=100, help="max 500")
    parser.add_argument("--addresses", type=int, default=100, help="the flood's addresses (1 to --sign-ins)")
    parser.add_argument("--unbounded", action="store_true", help="limits out of reach, as before them")
    args = parser.parse_args()
    args.adds, args.sign_ins = min(args.adds, 500), min(args.sign_ins, 500)
    args.addresses = max(1, min(args.addresses, args.sign_ins))
    with tempfile.TemporaryDirectory() as data_dir:
        created = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data_dir, stdin=PASSWORD + "\n")
        if created.returncode:
            raise SystemExit(created.stderr)
        with ShopProcess(data_dir, "--xheaders", *(UNBOUNDED if args.unbounded else ())) as shop:
            asyncio.run(asyncio.wait_for(run(shop, args), timeout=300))


if __name__ == "__main__":
    main()
