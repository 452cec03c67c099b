"""Fixtures for the browser tests: a private JupyterLab server and headless Chromium.

* ``lab_server`` starts JupyterLab from this very environment
  (``sys.executable -m jupyter lab``) on ``127.0.0.1`` with a free port and a
  random token, serving a temporary *copy* of the notebooks (the stored ones are
  never opened, so never saved), with ``COURSE_PROFILE=smoke``. Its settings,
  workspaces and runtime files live in the same temporary folder, so a user's own
  JupyterLab configuration plays no part. At the end its kernels are shut down,
  then the server and everything it started are stopped.
* ``browser`` launches the system Chromium (``/usr/bin/chromium`` from Debian's
  ``chromium`` package, or the path in ``COURSE_CHROMIUM``) through Playwright;
  no browser is ever downloaded. When no Chromium is installed the tests skip
  and say how to install it (``tools/install_browser.sh``).
* ``notebook_tabs`` opens each notebook once, in its own browser context and
  tab, and runs all its cells through the lab's menus. Every request to a host
  other than the lab server is refused and recorded (``page.blocked_requests``),
  and Chromium's own background traffic is switched off, so nothing the browser
  does leaves the machine. A failing test leaves screenshots of the open tabs.

Screenshots and the server log go to ``tests/artifacts/e2e/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "e2e"

CHROMIUM_ENV = "COURSE_CHROMIUM"
"""Environment variable naming another Chromium binary (default ``/usr/bin/chromium``)."""
NOTEBOOK_DIR_ENV = "COURSE_E2E_NOTEBOOK_DIR"
"""Environment variable naming another folder of notebooks to test (default: ``notebooks/``)."""
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
"""The notebook on show in the lab's main area."""

SERVER_START_TIMEOUT_S = 90
KERNEL_START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 10
STALL_S = 3.0  # an idle kernel with cells left unrun for this long means Run All stopped

# Chromium switches: no GPU, no sandbox (CI runs as root), and none of the
# background services that would phone home (updates, sync, field trials, QUIC).
# The host resolver rule makes every name but the loopback address unresolvable,
# a second fence behind the request filter of the ``page`` fixture.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

# JupyterLab user settings for a quiet, deterministic lab: no news or update
# checks (both would make requests to the internet), every cell attached to the
# page (no virtual scrolling), the notebook's kernel started without asking, and
# no toast notifications over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _local_opener() -> urllib.request.OpenerDirector:
    """A urllib opener that ignores proxy variables (the server is on loopback)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _stop_process_tree(proc: subprocess.Popen) -> None:
    """Stop ``proc``, its process group and any descendant (kernels run in their own sessions)."""
    import psutil

    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=STOP_TIMEOUT_S)
    alive = [p for p in descendants if p.is_running()]
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token and the folder it serves."""

    port: int
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """URL that opens notebook ``name`` (relative to the served folder) alone in the lab.

        ``reset`` starts from an empty workspace, so tabs opened earlier in the
        session are not restored next to it.
        """
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        """Call the server's REST API; returns the decoded JSON (or ``None`` when empty)."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with _local_opener().open(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut every running kernel down through the API (best effort)."""
        try:
            for kernel in self.api("/api/kernels") or []:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except (OSError, urllib.error.URLError, ValueError):
            pass


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``tests/artifacts/e2e/``, emptied of earlier screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary; skips the browser tests when none is installed."""
    path = os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(
            f"No Chromium at {path}: the browser tests need Debian's chromium package "
            f"(run `sudo bash tools/install_browser.sh`) or {CHROMIUM_ENV}=/path/to/chromium."
        )
    return path


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary copy of the notebooks folder: the lab opens and autosaves only this copy."""
    source = Path(os.environ.get(NOTEBOOK_DIR_ENV, NOTEBOOKS))
    if not any(source.glob("*.ipynb")):
        raise FileNotFoundError(
            f"No notebooks in {source}; the browser tests open the course notebooks from there "
            f"(set {NOTEBOOK_DIR_ENV} to test another folder)."
        )
    root = tmp_path_factory.mktemp("lab") / "notebooks"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return root


@pytest.fixture(scope="session")
def lab_server(lab_root: Path, artifacts_dir: Path, chromium_path: str) -> LabServer:
    """JupyterLab on 127.0.0.1 (free port, random token, smoke profile), stopped at the end.

    Depends on ``chromium_path`` so that a machine without a browser skips before
    paying for a server start.
    """
    home = lab_root.parent
    port = _free_port()
    token = secrets.token_hex(24)
    settings_dir = home / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "COURSE_PROFILE": "smoke",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    # Kernels get the matplotlib backend a student's lab gives them (inline figures).
    env.pop("MPLBACKEND", None)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={lab_root}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; the server still binds loopback only
    log_path = artifacts_dir / "jupyter-server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        command, cwd=lab_root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    server = LabServer(port=port, token=token, root_dir=lab_root, log_path=log_path, process=process)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with status {process.returncode} while starting; "
                    f"its log ({log_path}) ends with:\n{_log_tail(log_path)}"
                )
            try:
                server.api("/api/status")
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not answer on {server.base_url} within {SERVER_START_TIMEOUT_S} s; "
                        f"its log ({log_path}) ends with:\n{_log_tail(log_path)}"
                    ) from None
                time.sleep(0.3)
        yield server
    finally:
        if process.poll() is None:
            server.shutdown_kernels()
        _stop_process_tree(process)
        log.close()


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    """Headless system Chromium driven by Playwright (never a downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a broken install, not a missing browser: fail, do not skip
        raise ImportError(
            "The browser tests drive Chromium with Playwright's Python client: pip install -e '.[dev]' "
            "(never run `playwright install`; the tests use the system Chromium)."
        ) from exc

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS, chromium_sandbox=False
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class NotebookTabs:
    """Opens notebooks in the lab, one browser tab each, and runs all their cells once.

    ``open(name)`` returns a Playwright ``Page`` showing notebook ``name`` after
    *Edit > Clear Outputs of All Cells* and *Run > Run All Cells*, with every code
    cell executed by the live kernel. A second ``open`` of the same name returns
    the same tab. Each tab may talk to the lab server only: requests to any other
    origin are aborted and listed in ``page.blocked_requests``.
    """

    RUN_ALL_TIMEOUT_S = 150

    def __init__(self, browser, server: LabServer):
        self.browser = browser
        self.server = server
        self.pages: dict[str, object] = {}
        self._contexts: list = []

    def _new_page(self):
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
        self._contexts.append(context)
        blocked: list[str] = []
        allowed_netloc = f"127.0.0.1:{self.server.port}"

        def gate(route) -> None:
            parts = urlsplit(route.request.url)
            if parts.scheme in ("data", "blob") or parts.netloc == allowed_netloc:
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort("blockedbyclient")

        context.route("**/*", gate)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.blocked_requests = blocked
        return page

    @staticmethod
    def _menu(page, menu: str, item: str) -> None:
        """Click ``menu`` in the lab's menu bar, then the item labelled ``item``."""
        page.locator("#jp-MainMenu").get_by_role("menuitem", name=menu, exact=True).click()
        entry = (
            page.locator(".lm-Menu .lm-Menu-item")
            .filter(has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")))
            .first
        )
        entry.wait_for()
        if "lm-mod-disabled" in (entry.get_attribute("class") or ""):
            raise AssertionError(f"The lab's {menu} > {item} menu entry is disabled.")
        entry.click()

    @staticmethod
    def _progress(page) -> dict:
        """The prompts (``[ ]:``, ``[*]:``, ``[3]:``) of the code cells whose code shows, and the kernel status."""
        return page.evaluate(
            """panel => ({
                prompts: [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)`)].map(p => p.textContent.trim()),
                kernel: [...document.querySelectorAll(`${panel} .jp-Notebook-ExecutionIndicator`)].map(e => e.dataset.status),
            })""",
            PANEL,
        )

    def _state(self, page) -> str:
        """:meth:`_progress` as text, for error messages."""
        try:
            return json.dumps(self._progress(page))
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"(page state unavailable: {exc})"

    def open(self, name: str):
        if name in self.pages:
            return self.pages[name]
        if not (self.server.root_dir / name).is_file():
            raise FileNotFoundError(f"{name} is not among the notebooks the lab serves ({self.server.root_dir}).")
        page = self._new_page()
        self.pages[name] = page
        try:
            self._run_all(page, name)
        except Exception as exc:
            shot = ARTIFACTS / f"{Path(name).stem}-run-all-failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
            except Exception:  # noqa: BLE001 - keep the real failure
                pass
            raise AssertionError(
                f"Opening and running {name} in JupyterLab failed ({exc.__class__.__name__}); "
                f"state {self._state(page)}; screenshot {shot}"
            ) from exc
        return page

    def _wait_for_kernel(self, page, name: str) -> None:
        """Wait until the notebook's kernel is started, idle and connected to this tab.

        The toolbar's execution indicator reads "idle" even before a kernel
        exists, so the server is asked too: its session for ``name`` must have
        an idle kernel with a live connection, the same one on two polls in a row.
        Should a kernel dialog come up, its preselected kernel is accepted.
        """
        deadline = time.monotonic() + KERNEL_START_TIMEOUT_S
        previous = None
        while True:
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():
                dialog.first.click()
            sessions = [s for s in self.server.api("/api/sessions") or [] if s.get("path") == name]
            kernel = (sessions[0].get("kernel") or {}) if len(sessions) == 1 else {}
            ready = (
                kernel.get("execution_state") == "idle"
                and kernel.get("connections", 0) >= 1
                and self._progress(page)["kernel"][:1] == ["idle"]
            )
            if ready and previous == kernel["id"]:
                return
            previous = kernel.get("id") if ready else None
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"The kernel of {name} was not ready within {KERNEL_START_TIMEOUT_S} s (sessions: {sessions})"
                )
            page.wait_for_timeout(500)

    def _run_all(self, page, name: str) -> None:
        page.goto(self.server.notebook_url(name))
        notebook = json.loads((self.server.root_dir / name).read_text(encoding="utf-8"))
        code_cells = sum(cell["cell_type"] == "code" for cell in notebook["cells"])
        page.wait_for_function(
            "([panel, n]) => document.querySelectorAll(`${panel} .jp-CodeCell`).length === n",
            arg=[PANEL, code_cells],
            timeout=60_000,
        )
        # The kernel named in the notebook starts on its own (autoStartDefaultKernel).
        self._wait_for_kernel(page, name)
        # Make the notebook the lab's current document, so its menu entries apply to it.
        page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)").first.click()
        self._menu(page, "Edit", "Clear Outputs of All Cells")
        page.wait_for_function(
            """panel => [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)`)]
                        .every(p => !/\\d/.test(p.textContent))""",
            arg=PANEL,
        )
        self._menu(page, "Run", "Run All Cells")
        # Finished when every code cell shows an execution count and the kernel is idle
        # (cells whose code is collapsed, like the exercise solutions, show no prompt).
        # A cell that raises stops Run All: then the kernel stays idle with cells left
        # unnumbered, which a few seconds of no progress tell apart from the short
        # idle moments between two cells.
        deadline = time.monotonic() + self.RUN_ALL_TIMEOUT_S
        stalled_since = None
        finished_once = False
        while True:
            state = self._progress(page)
            numbered = [bool(re.search(r"\d", p)) for p in state["prompts"]]
            idle = state["kernel"][:1] == ["idle"]
            busy = any("*" in p for p in state["prompts"])
            if all(numbered) and idle:
                if finished_once:
                    return
                finished_once = True  # confirm on the next poll: not an idle moment between cells
            else:
                finished_once = False
            if idle and not busy and any(numbered):
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > STALL_S:
                    break
            else:
                stalled_since = None
            if time.monotonic() > deadline:
                raise AssertionError(f"Run All Cells did not finish within {self.RUN_ALL_TIMEOUT_S} s")
            page.wait_for_timeout(250)
        not_run = len(numbered) - sum(numbered)
        errors = page.locator(f'{PANEL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        raise AssertionError(
            f"Run All Cells stopped in {name}: {not_run} of its {len(numbered)} code cells with visible code "
            f"did not run (a cell raised?). Error output:\n" + "\n".join(errors.all_text_contents())[-3000:]
        )

    def close(self) -> None:
        for context in self._contexts:
            try:
                context.close()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass


@pytest.fixture(scope="session")
def notebook_tabs(browser, lab_server: LabServer):
    """A :class:`NotebookTabs` for the session: each notebook opens and runs once."""
    tabs = NotebookTabs(browser, lab_server)
    try:
        yield tabs
    finally:
        tabs.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest):
    """After a failed browser test, save ``<test>-<notebook>-failure.png`` of every open tab."""
    yield
    reports = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
    if not any(r is not None and r.failed for r in reports) or "notebook_tabs" not in request.fixturenames:
        return
    tabs = request.getfixturevalue("notebook_tabs")
    for name, page in tabs.pages.items():
        try:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{Path(name).stem}-failure.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a screenshot must never hide the real failure
            pass
