"""Open a file in speedscope (tests/viewer, pinned in its package-lock.json)
running in headless Chromium, and report what the viewer made of it.

speedscope's own command line (node_modules/speedscope/bin/cli.mjs) opens
``dist/release/index.html#localProfilePath=<file.js>``, where the .js file
calls ``speedscope.loadFileFromBase64(name, base64)``.  We do the same, with
tests/viewer/probe.js after that call: once the import is over it triggers
speedscope's Export (Ctrl+S) and puts the exported profile -- speedscope's
own serialisation of what it imported -- or the import's failure into the
page, which ``chromium --dump-dom`` prints.  The page opens in the sandwich
view, whose table (frame, total, self) is plain DOM.

No CDP client is needed: the page reports its own state, so the run is one
chromium process with no port, no extra package, and virtual time (timers
run as fast as the page is idle, whatever the load of the machine).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

VIEWER = Path(__file__).resolve().parent / "viewer"
INDEX = VIEWER / "node_modules" / "speedscope" / "dist" / "release" / "index.html"
PROBE = VIEWER / "probe.js"

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--allow-file-access-from-files", "--window-size=1280,1024",
         # Virtual milliseconds: the page has finished long before (it
         # needs well under one second of them); not a real-time limit.
         "--virtual-time-budget=30000"]


def chromium() -> str:
    """The Chromium binary, after making sure speedscope is installed.

    Skips when chromium, node or npm are missing, except in CI (CI set),
    where the set-up (make test) installs them and their absence fails.
    """
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [name for name, found in [("chromium", exe), ("node", shutil.which("node")),
                                         ("npm", shutil.which("npm"))] if not found]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing in CI (scripts/install-system-deps.sh)")
        pytest.skip(f"{', '.join(missing)} not installed")
    if not INDEX.exists():
        subprocess.run(["npm", "ci", "--prefix", str(VIEWER), "--no-audit", "--no-fund"],
                       check=True, capture_output=True)
    return exe


@dataclass
class Viewed:
    """What speedscope showed for one file."""
    state: str                      # "imported", "alert", "error", or "none" (never finished)
    title: str                      # the page's title
    message: str = ""               # speedscope's alert or error text, when not imported
    export: dict | None = None      # speedscope's export of the imported profiles
    # The page's tables, as the user reads them: the profile selector's list
    # (number, profile name, duration) and the sandwich view of the first
    # profile (total, self, frame).
    profile_list: list[tuple[str, str, str]] = field(default_factory=list)
    sandwich: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return self.state == "imported" and self.export is not None

    def profiles(self) -> dict[str, list[tuple[str, int, float, float]]]:
        """Each profile by its name: its slices (frame, depth, start, duration),
        in the profile's unit, from its start, in the order they open."""
        frames = [f["name"] for f in self.export["shared"]["frames"]]
        out = {}
        for p in self.export["profiles"]:
            assert p["type"] == "evented", p["type"]
            open_, slices = [], []
            for ev in p["events"]:
                if ev["type"] == "O":
                    open_.append((ev["frame"], ev["at"], len(slices)))
                    slices.append(None)
                else:
                    frame, at, slot = open_.pop()
                    assert frame == ev["frame"], "speedscope closed a frame it did not open"
                    slices[slot] = (frames[frame], len(open_), at, ev["at"] - at)
            assert not open_
            out[p["name"]] = slices
        return out

    def stacks(self, profile: str | None = None) -> dict[tuple[str, ...], float]:
        """The weight of each leaf stack (root first), as a flame graph draws it."""
        p = (self.export["profiles"][0] if profile is None else
             next(p for p in self.export["profiles"] if p["name"] == profile))
        frames = [f["name"] for f in self.export["shared"]["frames"]]
        stack: list[str] = []
        weights: dict[tuple[str, ...], float] = {}
        last = p["startValue"]
        for ev in p["events"]:
            if ev["at"] > last and stack:
                weights[tuple(stack)] = weights.get(tuple(stack), 0) + ev["at"] - last
            last = ev["at"]
            if ev["type"] == "O":
                stack.append(frames[ev["frame"]])
            else:
                stack.pop()
        return weights


def open_in_speedscope(path: Path, workdir: Path) -> Viewed:
    """Load ``path`` in speedscope in headless Chromium; what it showed."""
    exe = chromium()
    loader = workdir / f"{path.name}.load.js"
    loader.write_text("window.corrProbeFile = %s;\n%s" % (
        json.dumps({"name": path.name, "base64": base64.b64encode(path.read_bytes()).decode()}),
        PROBE.read_text()))
    url = f"{INDEX.as_uri()}#view=sandwich&localProfilePath={loader}"
    with tempfile.TemporaryDirectory(dir=workdir) as profile_dir:
        proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return parse(proc.stdout)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.title = ""
        self.probe: tuple[str, str] | None = None
        self.rows: list[list[str]] = []
        self._in = None
        self._text: list[str] = []
        self._probe_state = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title":
            self._in, self._text = "title", []
        elif tag == "pre" and attrs.get("id") == "corr-probe":
            self._in, self._text, self._probe_state = "probe", [], attrs.get("data-state", "")
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td" and self.rows:
            self.rows[-1].append("")
            self._in = "td"

    def handle_endtag(self, tag):
        if tag == "title" and self._in == "title":
            self.title, self._in = "".join(self._text), None
        elif tag == "pre" and self._in == "probe":
            self.probe, self._in = (self._probe_state, "".join(self._text)), None
        elif tag == "td":
            self._in = None

    def handle_data(self, data):
        if self._in in ("title", "probe"):
            self._text.append(data)
        elif self._in == "td":
            self.rows[-1][-1] += data


def parse(dom: str) -> Viewed:
    page = _Page()
    page.feed(dom)
    rows = [tuple(cell.strip() for cell in r) for r in page.rows if len(r) == 3]
    tables = dict(profile_list=[r for r in rows if r[0].isdigit()],
                  sandwich=[r for r in rows if not r[0].isdigit()])
    if page.probe is None:
        return Viewed("none", page.title, **tables)
    state, text = page.probe
    if state == "imported":
        return Viewed(state, page.title, export=json.loads(text), **tables)
    return Viewed(state, page.title, message=text, **tables)
