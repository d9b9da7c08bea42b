"""Turn the collected results into tables, target verdicts, a terminal report and ``docs/BENCHMARKS.md``.

Pure functions over the results dict the driver assembles (see :mod:`benchmarks.run`); a missing, failed
or skipped measurement shows as such instead of breaking the report.
"""

from __future__ import annotations

import dataclasses
import operator
import statistics
from collections.abc import Sequence
from typing import Any

__all__ = [
    "TARGETS",
    "Table",
    "Target",
    "build_tables",
    "build_targets",
    "md_table",
    "merge_report",
    "render_markdown",
    "render_text",
]

GIB = 1024.0  # MiB per GiB
PHASES = ("check", "features", "phase1", "phase2", "other")


@dataclasses.dataclass(frozen=True)
class Table:
    """One titled table of strings."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclasses.dataclass(frozen=True)
class Target:
    """One target of the issue: the goal, the measured figure and whether it is met (``None``: not measured)."""

    name: str
    goal: str
    measured: str
    met: bool | None


def _ok(result: Any) -> bool:
    return isinstance(result, dict) and "error" not in result and "skipped" not in result


def _why(result: Any, limit: int = 100) -> str:
    if isinstance(result, dict) and ("error" in result or "skipped" in result):
        text = ("failed: " + str(result["error"])) if "error" in result else "skipped: " + str(result["skipped"])
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return "not run"


def _sec(x: float) -> str:
    return f"{x:.1f} s"


def _spread(values: Sequence[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _cold(results: dict) -> list[dict]:
    return [r for r in results.get("time", {}).get("default_cold", []) if _ok(r)]


def _train_row(label: str, r: Any) -> tuple[str, ...]:
    if not _ok(r):
        return (label, _why(r), *[""] * 7)
    phases = tuple("-" if r["phases_s"].get(p) is None else _sec(r["phases_s"][p]) for p in PHASES)
    return (label, *phases, _sec(r["total_s"]), f"{r['val_accuracy']:.3f}", f"{r['peak_rss_mib'] / GIB:.2f} GiB")


def _training_runs(results: dict) -> list[tuple[str, Any]]:
    """Every training measurement with its label: the cold default runs, the warm one, classic."""
    section = results.get("time", {})
    runs = [(f"default, seed {r.get('seed', '?')}, cold cache", r) for r in section.get("default_cold", [])]
    return [*runs, ("default, warm cache", section.get("default_warm")), ("classic", section.get("classic"))]


def _time_table(results: dict) -> Table:
    rows = [_train_row(label, r) for label, r in _training_runs(results)]
    cold = _cold(results)
    if len(cold) > 1:
        totals, accs = [r["total_s"] for r in cold], [r["val_accuracy"] for r in cold]
        summary = f"default, cold: mean ± sd of {len(cold)}"
        rows.insert(
            len(results["time"]["default_cold"]), (summary, *[""] * 5, _spread(totals, 1) + " s", _spread(accs, 3), "")
        )
    floor = results.get("time", {}).get("floor")
    floor_text = f"{_sec(floor['seconds'])} ({floor['images']} images)" if _ok(floor) else _why(floor)
    rows.append(("floor: one bare forward pass", *[""] * 5, floor_text, "", ""))
    headers = ("run", *PHASES, "total", "val acc", "peak RSS")
    return Table("Time to accuracy (hymenoptera)", headers, tuple(rows))


def _ms(latency: dict[str, float]) -> str:
    return f"p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms"


def _inference_table(results: dict) -> Table:
    r = results.get("inference")
    if not _ok(r):
        return Table("Inference", ("measure", "value"), (("inference", _why(r)),))
    rows = (
        (f"bare model.predict, batch {r['batch_size']} (pixels pre-decoded)", f"{r['bare_images_per_s']:.1f} images/s"),
        ("imgclf predict FOLDER, steady (decoding included)", f"{r['cli_images_per_s']:.1f} images/s"),
        ("imgclf predict FOLDER, end to end (process start, model load)", f"{r['cli_seconds']:.1f} s"),
        ("bare forward, one image (pre-decoded)", _ms(r["forward_ms"])),
        ("Classifier.predict, one image (decoding included)", _ms(r["predict_ms"])),
        ("Grad-CAM + prediction, one image (decoding included)", _ms(r["gradcam_ms"])),
    )
    return Table(f"Inference ({r['images']} images)", ("measure", "value"), rows)


def _precision_table(results: dict) -> Table:
    section = results.get("precision", {})
    base = section.get("float32")
    rows = []
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        r = section.get(policy)
        if not _ok(r):
            rows.append((policy, _why(r), "", "", "", ""))
            continue
        speedup = change = ""
        if _ok(base):
            speedup = f"{r['images_per_s'] / base['images_per_s']:.2f}x"
            change = f"{(r['val_accuracy'] - base['val_accuracy']) * 100:+.1f} points"
        rows.append((policy, r["device"], f"{r['images_per_s']:.1f}", f"{r['val_accuracy']:.3f}", speedup, change))
    headers = ("policy", "device", "images/s", "val acc", "speed-up", "accuracy change")
    return Table("Precision (inference, same trained weights)", headers, tuple(rows))


def _export_cells(r: dict) -> tuple[str, ...]:
    if "error" in r:
        return (r["name"], "failed: " + r["error"][:80], *[""] * 4)
    export = _sec(r["export_s"]) if "export_s" in r else "-"
    diff = f"{r['max_abs_diff']:.1e} / {r['top1_agreement']:.1%}" if "max_abs_diff" in r else "(reference)"
    size = f"{r['size_bytes'] / 2**20:.1f} MiB"
    return (r["name"], export, size, f"{r['images_per_s']:.1f}", f"{r['val_accuracy']:.3f}", diff)


def _export_table(results: dict) -> Table:
    r = results.get("export")
    headers = ("runtime / format", "export time", "size", "images/s", "val acc", "max |dp| / top-1 agreement")
    if not _ok(r):
        return Table("Export and runtimes", headers, (("export", _why(r), *[""] * 4),))
    title = f"Export and runtimes ({r['images']} val images, batch {r['batch_size']})"
    return Table(title, headers, tuple(_export_cells(row) for row in r["rows"]))


def _cache_rows(results: dict) -> list[tuple[str, str]]:
    """Bytes the first cold run added to the feature cache, per cached combination, per 1000 dataset images."""
    cold = _cold(results)
    if not cold:
        return [("feature cache per 1000 images", "not measured")]
    r = cold[0]
    images = max(r["train_images"] + r["val_images"], 1)
    views = f"1 clean + {r['cache_views']} augmented views of each train image, 1 view of each val image"
    rows = []
    for name, added in r["cache_added"].items():
        kind = name.rsplit("-", 1)[0]  # drop the key hash
        size = added["bytes"] / images * 1000 / 2**20
        disk = added["disk_bytes"] / images * 1000 / 2**20
        rows.append((f"feature cache {kind}, per 1000 images", f"{size:.1f} MiB ({disk:.1f} MiB allocated on disk)"))
    return [*rows, ("(cache entries per image)", views)] if rows else [("feature cache", "nothing cached")]


def _memory_table(results: dict) -> Table:
    rows = [
        (f"training peak RSS: {label}", f"{r['peak_rss_mib'] / GIB:.2f} GiB")
        for label, r in _training_runs(results)
        if _ok(r)
    ]
    app = results.get("app")
    rows.append(("app process peak RSS", f"{app['peak_rss_mib'] / GIB:.2f} GiB" if _ok(app) else _why(app)))
    if _ok(app):
        for mode in ("without_gradcam", "with_gradcam"):
            m = app[mode]
            text = f"{m['classify_ms']:.0f} ms (rerun after upload {m['rerun_new_upload_ms']:.0f} ms)"
            rows.append((f"app: classify one upload, {mode.replace('_', ' ')}", text))
    return Table("Memory and the app", ("measure", "value"), (*rows, *_cache_rows(results)))


def _scale_table(results: dict) -> Table:
    rows = []
    for key in ("small", "large"):
        r = results.get("scale", {}).get(key)
        if not _ok(r):
            rows.append((key, _why(r), "", "", "", "", ""))
            continue
        speed = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.0f}"
        timed = ["-" if r[k] is None else _sec(r[k]) for k in ("check_s", "features_s")]
        backbone = f"{r['backbone']} @ {r['input_size']} px"
        rows.append((f"{r['images']:,}", backbone, *timed, speed, _sec(r["seconds"]), f"{r['peak_rss_mib']:.0f} MiB"))
    headers = ("images", "backbone", "check", "features", "features images/s", "train() total", "peak RSS")
    return Table("Scale: training on generated JPEGs (feature extraction, memory)", headers, tuple(rows))


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} images/s"


def _ray_rows(r: dict) -> list[tuple[str, ...]]:
    local = r["local"]
    rows = [("local engine, in process", "", _rate(local["images_per_s"]), "", _sec(local["seconds"]))]
    for key in ("ray_1_actor", "ray_2_actors"):
        job = r[key]
        label = f"Ray engine, {job['actors']} actor{'s' if job['actors'] > 1 else ''}"
        rows.append((label, _sec(job["first_rows_s"]), _rate(job["images_per_s"]),
                     _rate(job["steady_images_per_s"]), _sec(job["seconds"])))  # fmt: skip
    rows.append(("Ray start-up (ray.init, local)", "", "", "", _sec(r["ray_init_s"])))
    return rows


def _stream_row(r: dict) -> tuple[str, ...]:
    memory = r["driver_rss_mib"]
    drift = f"driver RSS {memory[0][1]:.0f} -> {memory[-1][1]:.0f} MiB" if memory else ""
    label = f"Ray engine, {r['images']:,} images streamed to CSV, 1 actor"
    return (label, _sec(r["first_rows_s"]), _rate(r["images_per_s"]), _rate(r["steady_images_per_s"]),
            f"{_sec(r['seconds'])}; {drift}")  # fmt: skip


def _head_row(label: str, r: dict) -> tuple[str, ...]:
    memory = f"RssAnon {r['rss_anon_after_mib']:.0f} MiB, RssFile {r['rss_file_after_mib']:.0f} MiB"
    return (f"head, one epoch on {label} of memory-mapped features ({r['rows']:,} rows)", "",
            f"{r['rows_per_s']:.0f} rows/s", "", f"{_sec(r['epoch_s'])}; {memory}")  # fmt: skip


def _ray_table(results: dict) -> Table:
    section = results.get("ray", {})
    headers = ("run", "first rows", "images/s (whole job)", "images/s (after first rows)", "wall time")
    if not _ok(section):
        return Table("Ray engine", headers, (("ray", _why(section), "", "", ""),))
    engines, stream = section.get("engines"), section.get("stream")
    rows = _ray_rows(engines) if _ok(engines) else [("local vs Ray", _why(engines), "", "", "")]
    rows.append(_stream_row(stream) if _ok(stream) else ("streaming run", _why(stream), "", "", ""))
    for label, head in section.get("head", {}).items():
        rows.append(_head_row(label, head) if _ok(head) else (f"head, {label}", _why(head), "", "", ""))
    loads = [f"{x:.1f}" for r in (engines, stream) if _ok(r) for x in r["load_avg"]]
    title = "Scale-out: Ray engine (tinycnn @ 32 px), head on memory-mapped features"
    title += f" (load average during the Ray runs {', '.join(loads)})" if loads else ""
    return Table(title, headers, tuple(rows))


def _serve_rows(runtime: str, r: dict) -> list[tuple[str, ...]]:
    bare, served = r["bare"], r["serve"]
    single = bare["single_ms"]
    rows = [
        (runtime, "bare forward, batch 32 (pixels pre-decoded)", f"{bare['images_per_s']:.1f}", "", "", "", ""),
        (runtime, "bare forward, one image", "", f"{single['p50']:.1f} ms", f"{single['p95']:.1f} ms", "", ""),
    ]
    if not _ok(served):
        return [*rows, (runtime, "imgclf serve", _why(served), "", "", "", "")]
    for clients in (k for k in served if k.isdigit()):
        c = served[clients]
        share = f"{c['images_per_s'] / bare['images_per_s']:.2f} of bare batched"
        latency = [f"{c['latency_ms'][q]:.1f} ms" for q in ("p50", "p95")]
        label = f"imgclf serve, {clients} client{'s' if clients != '1' else ''}"
        rows.append((runtime, label, f"{c['images_per_s']:.1f}", *latency, f"{c['mean_batch']:.1f}", share))
    return rows


def _serve_table(results: dict) -> Table:
    section = results.get("serve")
    headers = ("runtime", "measure", "images/s", "p50", "p95", "mean batch", "vs bare")
    if not _ok(section):
        return Table("Serving", headers, (("", _why(section), "", "", "", "", ""),))
    rows = []
    for runtime in ("keras", "onnx"):
        r = section.get(runtime)
        if r is not None:
            rows += _serve_rows(runtime, r) if _ok(r) else [(runtime, _why(r), "", "", "", "", "")]
    title = f"Serving (imgclf serve over HTTP, one image per request, {section['images']} images)"
    return Table(title, headers, tuple(rows))


def build_tables(results: dict) -> list[Table]:
    """Every table of the report, in order."""
    return [
        _time_table(results),
        _inference_table(results),
        _precision_table(results),
        _export_table(results),
        _memory_table(results),
        _scale_table(results),
        _serve_table(results),
        _ray_table(results),
    ]


# (target, key of _measures, comparison, limit, how the measured figure is written)
TARGETS = (
    ("default recipe val accuracy (mean of cold runs)", "accuracy", ">=", 0.95, "{:.3f}"),
    ("classic / default total wall time, cold cache", "cold_ratio", ">=", 8, "{:.1f}x"),
    ("classic / default total wall time, warm cache", "warm_ratio", ">=", 20, "{:.1f}x"),
    ("default cold total / floor (one bare forward pass)", "floor_ratio", "<=", 3, "{:.2f}x"),
    ("imgclf predict / bare model.predict throughput", "cli_share", ">=", 0.9, "{:.2f}"),
    ("mixed bfloat16 / float32 inference speed", "bf16_speedup", ">=", 1.3, "{:.2f}x"),
    ("mixed bfloat16 accuracy change (points)", "bf16_change", "<=", 0.5, "{:.2f}"),
    ("training peak RSS, largest run (GiB)", "train_rss_gib", "<", 4, "{:.2f}"),
    ("scale: peak RSS, larger / smaller generated set", "scale_ratio", "<=", 1.5, "{:.2f}x"),
    ("app: classify one upload / bare forward of one image", "app_ratio", "<=", 1.5, "{:.2f}x"),
    ("app: classify with Grad-CAM / bare forward of one image", "gradcam_ratio", "<=", 3, "{:.2f}x"),
    ("serve, 32 clients / bare batched throughput (keras)", "serve_share", ">=", 0.8, "{:.2f}"),
    ("serve p95 latency, 1 client / bare one-image forward p95 (keras)", "serve_latency", "<=", 1.3, "{:.2f}x"),
)
_COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def _get(result: Any, *keys: str) -> float | None:
    for key in keys:
        if not _ok(result) or key not in result:
            return None
        result = result[key]
    return float(result)


def _measures(results: dict) -> dict[str, float | None]:
    """The figures the targets are judged on (``None`` where not measured)."""
    section, cold = results.get("time", {}), _cold(results)
    cold_total = statistics.mean(r["total_s"] for r in cold) if cold else None
    classic = _get(section.get("classic"), "total_s")
    inf, app, scale = results.get("inference"), results.get("app"), results.get("scale", {})
    f32, bf16 = results.get("precision", {}).get("float32"), results.get("precision", {}).get("mixed_bfloat16")
    acc32, acc16 = _get(f32, "val_accuracy"), _get(bf16, "val_accuracy")
    forward = _get(inf, "forward_ms", "p50")
    train_rss = [r["peak_rss_mib"] for _, r in _training_runs(results) if _ok(r)]
    keras_serve = results.get("serve", {}).get("keras") if _ok(results.get("serve")) else None
    bare, served = (keras_serve or {}).get("bare"), (keras_serve or {}).get("serve")
    return {
        "accuracy": statistics.mean(r["val_accuracy"] for r in cold) if cold else None,
        "cold_ratio": _ratio(classic, cold_total),
        "warm_ratio": _ratio(classic, _get(section.get("default_warm"), "total_s")),
        "floor_ratio": _ratio(cold_total, _get(section.get("floor"), "seconds")),
        "cli_share": _ratio(_get(inf, "cli_images_per_s"), _get(inf, "bare_images_per_s")),
        "bf16_speedup": _ratio(_get(bf16, "images_per_s"), _get(f32, "images_per_s")),
        "bf16_change": None if acc32 is None or acc16 is None else abs(acc16 - acc32) * 100,
        "train_rss_gib": max(train_rss) / GIB if train_rss else None,
        "scale_ratio": _ratio(_get(scale.get("large"), "peak_rss_mib"), _get(scale.get("small"), "peak_rss_mib")),
        "app_ratio": _ratio(_get(app, "without_gradcam", "classify_ms"), forward),
        "gradcam_ratio": _ratio(_get(app, "with_gradcam", "classify_ms"), forward),
        "serve_share": _ratio(_get(served, "32", "images_per_s"), _get(bare, "images_per_s")),
        "serve_latency": _ratio(_get(served, "1", "latency_ms", "p95"), _get(bare, "single_ms", "p95")),
    }


def build_targets(results: dict) -> list[Target]:
    """The issue's targets with the measured figure and the verdict."""
    measured = _measures(results)
    targets = []
    for name, key, op, limit, fmt in TARGETS:
        value = measured[key]
        text = "not measured" if value is None else fmt.format(value)
        met = None if value is None else bool(_COMPARE[op](value, limit))
        targets.append(Target(name, f"{op} {limit}", text, met))
    return targets


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def _target_table(targets: Sequence[Target]) -> Table:
    rows = tuple((t.name, t.goal, t.measured, _verdict(t.met)) for t in targets)
    return Table("Targets", ("target", "goal", "measured", "verdict"), rows)


def _text_table(table: Table) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(table.headers, *table.rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([table.title, line(table.headers), line(["-" * w for w in widths]), *map(line, table.rows)])


def render_text(tables: Sequence[Table], targets: Sequence[Target]) -> str:
    """The report for the terminal: aligned plain-text tables."""
    return "\n\n".join(_text_table(t) for t in [*tables, _target_table(targets)]) + "\n"


def md_table(table: Table) -> str:
    """A titled Markdown table."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [line(table.headers), "|" + "---|" * len(table.headers), *map(line, table.rows)]
    return f"### {table.title}\n\n" + "\n".join(lines)


def render_markdown(meta: dict, tables: Sequence[Table], targets: Sequence[Target], notes: Sequence[str]) -> str:
    """``docs/BENCHMARKS.md``: machine, versions, command, date, every table, the targets and how it was measured."""
    machine = "\n".join(f"- {k}: {v}" for k, v in meta["machine"].items())
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    head = [
        "## Benchmark suite (`make bench`)",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} in {meta['wall_minutes']:.1f} minutes"
        + (" (**--quick smoke run: figures are not representative**)" if meta.get("quick") else "")
        + ". Rerun with `make bench` (needs IMGCLF_WEIGHTS and IMGCLF_TEST_DATA).",
        "",
        "### Machine",
        "",
        machine,
        f"- versions: {versions}",
        f"- data: {meta['data']}",
    ]
    body = [md_table(t) for t in [_target_table(targets), *tables]]
    how = "### How it was measured\n\n" + "\n".join(f"- {n}" for n in notes)
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n\n" + how + "\n"


BLOCK_START = "<!-- make bench: start (generated by python -m benchmarks.run; edits here are overwritten) -->"
BLOCK_END = "<!-- make bench: end -->"


def merge_report(existing: str | None, block: str, *, start: str = BLOCK_START, end: str = BLOCK_END) -> str:
    """``docs/BENCHMARKS.md`` with the generated ``block`` in place of the previous one; other text is kept.

    A file without a generated block gets it appended; no file gets a ``# Benchmarks`` title and the block.
    ``start`` and ``end`` are the markers of the block (each generator has its own).
    """
    wrapped = f"{start}\n{block.strip()}\n{end}"
    if not existing:
        return f"# Benchmarks\n\n{wrapped}\n"
    if start in existing and end in existing.split(start, 1)[1]:
        head, rest = existing.split(start, 1)
        return head + wrapped + rest.split(end, 1)[1]
    return f"{existing.rstrip()}\n\n{wrapped}\n"
