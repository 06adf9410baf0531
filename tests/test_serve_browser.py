"""The web example in a real browser: headless Chromium (Debian's, /usr/bin/chromium) driven by
Playwright, two pages on examples/web_tasks served by `fusiondb serve` on 127.0.0.1.

Adding and toggling a task in one page re-renders the other; an image served by get_url
loads, and so does one uploaded from a page; this process writing to the file directly
updates both pages. Needs chromium and the example's node_modules (`make web-deps`); without
them the test fails saying so, never skips.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

import fusiondb as fdb
from tests.serve_helpers import ROOT, running_server

EXAMPLE = ROOT / "examples" / "web_tasks"
CHROMIUM = Path("/usr/bin/chromium")

sys.path.insert(0, str(EXAMPLE))
import tasks_app  # noqa: E402


def png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (red pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.fixture(scope="module")
def built_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (EXAMPLE / "node_modules").is_dir():
        pytest.fail("examples/web_tasks/node_modules is missing: run `make web-deps` (make test does)")
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH: the browser test builds the example with it")
    # The page imports fusiondb-client's built dist/ (npm ci builds it; rebuilt here so the
    # page runs the client's current sources).
    built = subprocess.run(
        [npm, "run", "build"], cwd=ROOT / "clients" / "js", capture_output=True, text=True,
        timeout=180, check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    out = tmp_path_factory.mktemp("web_tasks_dist")
    proc = subprocess.run(
        [npm, "exec", "--", "vite", "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "error"],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium (make web-deps does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()



def test_two_pages_follow_each_other_and_the_file(
    built_page: Path, browser: Browser, tmp_path: Path
) -> None:
    db_path = tmp_path / "tasks.db"
    fdb.open(db_path, tasks_app.schema).close()
    with running_server(
        db_path, "tasks_app", "--static", str(built_page), cwd=EXAMPLE
    ) as base:
        one = browser.new_page()
        two = browser.new_page()
        errors: list[str] = []
        for page in (one, two):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/?user=u1")
            expect(page.get_by_role("heading")).to_have_text("Tasks of u1")
            expect(page.get_by_role("list", name="tasks")).to_be_attached()  # loaded

        # Add in one page: the other re-renders.
        one.get_by_label("new task").fill("buy milk")
        one.get_by_role("button", name="Add").click()
        expect(two.get_by_text("buy milk")).to_be_visible(timeout=10_000)
        expect(one.get_by_text("buy milk")).to_be_visible()

        # Toggle in the other (a controlled checkbox: it changes when the new value comes
        # back from the server): the first follows.
        two.get_by_role("checkbox").first.click()
        expect(one.get_by_role("checkbox").first).to_be_checked(timeout=10_000)
        expect(two.get_by_role("checkbox").first).to_be_checked()
        one.get_by_role("checkbox").first.click()
        expect(two.get_by_role("checkbox").first).not_to_be_checked(timeout=10_000)

        # This process writes to the file directly (not through the server): both pages update,
        # and the attachment's image, served through get_url, loads.
        with fdb.open(db_path, tasks_app.schema) as db:
            task_id = db.run(tasks_app.add, text="with picture", user_id="u1")
            db.run(tasks_app.attach, task_id=task_id, data=png(), content_type="image/png")
            db.run(tasks_app.add, text="someone else's", user_id="u2")
        for page in (one, two):
            image = page.get_by_role("img", name="attachment of with picture")
            expect(image).to_be_visible(timeout=10_000)
            page.wait_for_function(
                "img => img.complete && img.naturalWidth === 4", arg=image.element_handle(), timeout=10_000
            )
            expect(page.get_by_text("someone else's")).to_have_count(0)
            expect(page.get_by_role("listitem")).to_have_count(2)

        # Upload from a page (generate_upload_url, client.upload, a mutation keeping the id):
        # the other page shows the uploaded image.
        one.get_by_label("attach to buy milk").set_input_files(
            {"name": "wide.png", "mimeType": "image/png", "buffer": png(width=6)}
        )
        image = two.get_by_role("img", name="attachment of buy milk")
        expect(image).to_be_visible(timeout=10_000)
        two.wait_for_function(
            "img => img.complete && img.naturalWidth === 6", arg=image.element_handle(), timeout=10_000
        )
        assert errors == []
