"""Execute the course notebooks headlessly and print a results table.

Two uses:

* ``python tools/run_notebooks.py``: the course's main job. Builds the offline
  MiniDrive dataset if missing, runs every notebook top to bottom in the chosen
  profile (``smoke`` unless ``--profile`` or ``COURSE_PROFILE`` say otherwise)
  without touching the stored files, and prints one table: notebook, status,
  seconds, and the headline numbers each notebook published
  (:func:`course_utils.notebook.publish`).
* ``python tools/run_notebooks.py --store [NOTEBOOK ...]``: for authors after an
  edit. The source of each notebook is its jupytext percent script
  ``notebooks/NN_name.py`` (paired with ``NN_name.ipynb``); ``--store`` builds the
  notebook from that script (keeping the cell ids and metadata of the stored
  ``.ipynb`` where cells match), executes it in the smoke profile and stores it,
  outputs included and cleanly numbered, so that strict ``pytest --nbval``
  compares them. A notebook is named by its path (``.py`` or ``.ipynb``) or its
  number (``03``); without names every notebook is stored.

Exit status 1 when any notebook fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# The same environment the test harness (conftest.py) gives nbval's kernels,
# so stored outputs match what the tests see.
HARNESS_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}
# Stored outputs (--store) are always made on the offline MiniDrive dataset.
STORE_ENV = {"COURSE_DATASET": "minidrive"}


# TensorFlow's C++ log lines (absl) on stderr: machine noise, not course content.
_TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*|[IWEF]\d{4} \d+:\d+:\d+(\.\d+)? .*)$"
)


def _drop_tf_log_lines(outputs: list) -> list:
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = [ln for ln in out["text"].splitlines(keepends=True) if not _TF_LOG_LINE.match(ln.rstrip("\n"))]
            if not "".join(lines).strip():
                continue
            out["text"] = "".join(lines)
        kept.append(out)
    return kept


def _clean_for_storage(nb) -> None:
    """Drop volatile metadata and TensorFlow log noise so stored notebooks stay small and readable."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _drop_tf_log_lines(cell.get("outputs", []))
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)


def load_source(path: Path):
    """The notebook to execute: built from its paired percent script when there is one, else the .ipynb itself.

    Cells that match the stored notebook keep its cell ids and metadata (``jupytext --update``),
    so a re-stored notebook differs from the stored one only where its source or outputs changed.
    """
    import nbformat

    script = path.with_suffix(".py")
    if not script.is_file():
        return nbformat.read(path, as_version=4)
    import jupytext
    from jupytext.combine import combine_inputs_with_outputs

    nb = jupytext.read(script)
    if path.is_file():
        nb = combine_inputs_with_outputs(nb, nbformat.read(path, as_version=4))
    return nb


def resolve(name: Path) -> Path:
    """A notebook argument (``03``, ``notebooks/03_aspp.py`` or ``.ipynb``) as the path of its .ipynb."""
    if name.suffix in (".py", ".ipynb"):
        return name.resolve().with_suffix(".ipynb")
    matches = sorted(NOTEBOOKS.glob(f"{name}_*.py")) or sorted(NOTEBOOKS.glob(f"{name}_*.ipynb"))
    return matches[0].with_suffix(".ipynb") if len(matches) == 1 else name.resolve()


@contextlib.contextmanager
def quiet_native_stderr():
    """Send file descriptor 2 to /dev/null, so that TensorFlow's C++ start-up lines (written
    before Python sees them, by this process and by the kernels it starts, which inherit it) stay
    off the console. Cell output is unaffected: kernels send it over their own channels."""
    import io

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    said = io.StringIO()  # what Python code says on stderr is kept and shown afterwards
    try:
        with contextlib.redirect_stderr(said):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        if said.getvalue():
            sys.stderr.write(said.getvalue())


def execute(path: Path, profile: str, store: bool, timeout: int) -> tuple[str, float, dict, str]:
    """Run one notebook; return (status, seconds, published values, error text)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from course_utils.notebook import RESULTS_ENV, read_published

    nb = load_source(path) if store else nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.jsonl"
        env_backup = dict(os.environ)
        os.environ.update(HARNESS_ENV)
        if store:
            os.environ.update(STORE_ENV)
        os.environ["COURSE_PROFILE"] = profile
        os.environ[RESULTS_ENV] = str(results_file)
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,
        )
        start = time.perf_counter()
        status, error = "ok", ""
        try:
            with quiet_native_stderr():
                client.execute()
        except CellExecutionError as exc:
            status, error = "FAILED", str(exc).strip().splitlines()[-1][:200]
        except Exception as exc:  # kernel death, timeout
            status, error = "FAILED", f"{type(exc).__name__}: {exc}"[:200]
        finally:
            os.environ.clear()
            os.environ.update(env_backup)
        seconds = time.perf_counter() - start
        published = read_published(results_file)
    if store and status == "ok":
        _clean_for_storage(nb)
        nbformat.write(nb, path)
    return status, seconds, published, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to run: paths or numbers (default: all in notebooks/)"
    )
    parser.add_argument("--store", action="store_true", help="store outputs in place (always in the smoke profile)")
    parser.add_argument(
        "--profile",
        default=None,
        help="smoke, cpu, gpu or auto (default: COURSE_PROFILE, else auto: gpu where TensorFlow sees a GPU, else cpu)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    # TensorFlow's C++ start-up lines are machine noise, not course output
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from prettytable import PrettyTable

    profile = "smoke" if args.store else (args.profile or os.environ.get("COURSE_PROFILE") or "auto")
    if profile == "auto":
        from course_utils.config import default_profile_name

        with quiet_native_stderr():  # asking TensorFlow for a GPU starts it
            profile = default_profile_name()
    paths = [resolve(p) for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    missing = [p for p in paths if not (p.is_file() or (args.store and p.with_suffix(".py").is_file()))]
    if missing:
        parser.error(f"notebook not found: {missing[0]} (run from the course root; notebooks live in notebooks/)")

    if not args.store:
        os.environ["COURSE_PROFILE"] = profile
        from course_utils.config import get_profile
        from course_utils.datasets import ensure_minidrive

        t0 = time.perf_counter()
        with quiet_native_stderr():
            ensure_minidrive(get_profile(profile))
        print(f"MiniDrive ({profile} profile) ready in {time.perf_counter() - t0:.1f} s")

    table = PrettyTable(["Notebook", "Status", "Seconds", "Results"])
    table.align["Notebook"] = "l"
    table.align["Results"] = "l"
    failures = 0
    all_published: dict = {}
    total = time.perf_counter()
    for path in paths:
        print(f"running {path.name} ({profile}) ...", flush=True)
        status, seconds, published, error = execute(path, profile, args.store, args.timeout)
        failures += status != "ok"
        shown = ", ".join(f"{k}={v}" for k, v in published.items()) if status == "ok" else error
        all_published.update(published if status == "ok" else {})
        table.add_row([path.name, status, f"{seconds:.1f}", shown])
    print(f"\nCourse run, profile {profile}{' (outputs stored)' if args.store else ''}:")
    print(table)
    print(f"{len(paths) - failures} passed, {failures} failed in {time.perf_counter() - total:.0f} s")
    if "test_miou" in all_published and "colour_baseline_test_miou" in all_published:
        net, colour = float(all_published["test_miou"]), float(all_published["colour_baseline_test_miou"])
        split = all_published.get("held_out", "test")  # notebook 07 scores val where a dataset has no test split
        print(
            f"DeepLabV3 {split} mIoU {net:.3f} against {colour:.3f} for the per-pixel colour baseline "
            f"({profile} profile{'; smoke numbers are noise' if profile == 'smoke' else ''})."
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
