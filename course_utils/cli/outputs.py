"""What ``predict`` and ``export`` write: predictions tagged as theirs, exports checked against Keras.

``predict`` never replaces a file it did not write (its PNGs carry :data:`PREDICTION_TAG`),
and its own earlier outputs only with ``--overwrite``.
"""

from __future__ import annotations

from pathlib import Path

from course_utils.cli.errors import CLIError

#: PNG text key that marks a file written by ``predict`` (so it may be replaced with --overwrite).
PREDICTION_TAG = ("Software", "course_utils predict")


def check_prediction_targets(out: Path, stems: list[str], overwrite: bool) -> None:
    """Refuse to replace a file ``predict`` did not write, or an earlier prediction without ``--overwrite``."""
    from course_utils.data.format import png_text

    for stem in stems:
        for suffix in ("mask", "overlay"):
            target = out / f"{stem}_{suffix}.png"
            if not (target.exists() or target.is_symlink()):
                continue
            ours = (
                target.is_file()
                and not target.is_symlink()
                and png_text(target).get(PREDICTION_TAG[0]) == (PREDICTION_TAG[1])
            )
            if not ours:
                raise CLIError(
                    f"{target} exists and was not written by predict (e.g. your own label): it is never "
                    "replaced; move it away or choose another --out."
                )
            if not overwrite:
                raise CLIError(
                    f"{target} holds an earlier prediction; pass --overwrite to replace it, or choose another --out."
                )


def cmd_export(args) -> int:
    """``export``: the chosen formats written together into ``--out``, each with its input convention."""
    from course_utils import evaluate
    from course_utils.deploy import export as exporter
    from course_utils.safe_io import check_writable, remove_stale_temps

    formats = exporter.check_formats(args.format)  # an unknown format or a missing converter: before loading
    exporter.check_tools(formats)
    out = check_writable(args.out, folder=True, option="--out")
    if out.is_dir():
        ours = {n for name in exporter.FILENAMES.values() for n in (name, name + ".json")}
        others = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if others:
            raise CLIError(
                f"--out {out} holds other files ({', '.join(others[:3])}); export writes only its own files, "
                "so choose an empty or new --out."
            )
    model = evaluate.load_checkpoint(args.checkpoint)
    remove_stale_temps(out.parent)  # what a killed export left behind
    records = exporter.export_model(
        model, out, formats, overwrite=args.overwrite, source=Path(args.checkpoint).name, log=None
    )
    for record in records.values():
        print(exporter.describe(record))
    print(f"Exported to {out} ({', '.join(records)}); each file's input convention is in <file>.json beside it.")
    return 0


def interrupted_what(args) -> str:
    """What a Ctrl-C left behind, in a few words (every output is written atomically)."""
    if args.command == "train":
        return (
            "an unfinished run resumes from its last backup when the same train command runs again "
            "(nothing half-written)"
        )
    if args.command == "predict":
        return "the masks printed above were written, no other file (nothing half-written)"
    if args.command == "evaluate":
        return "nothing written (the results file is written only once the whole evaluation is done)"
    return "nothing written"
