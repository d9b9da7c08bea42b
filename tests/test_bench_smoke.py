"""The benchmark driver's rendering on fake results: tables, target verdicts, failures, the markdown report.

The benchmarks themselves are not run here (``make bench`` does that).
"""

from __future__ import annotations

import copy

import pytest

from benchmarks.common import RESULT_PREFIX, parse_result
from benchmarks.report import TARGETS, build_tables, build_targets, merge_report, render_markdown, render_text
from benchmarks.run import failures


def train(seed: int, total: float, acc: float, recipe: str = "fast", rss: float = 2000.0) -> dict:
    phases = {"check": 5.0, "features": total * 0.4, "phase1": 2.0, "phase2": total * 0.4, "other": 1.0}
    usage = {"files": 888, "bytes": 888 * 4224, "disk_bytes": 888 * 8192}
    if recipe == "classic":
        phases["features"], usage = None, {"files": 0, "bytes": 0, "disk_bytes": 0}
    return {
        "recipe": recipe,
        "seed": seed,
        "run": f"/tmp/runs/{recipe}-{seed}",
        "total_s": total,
        "phases_s": phases,
        "val_accuracy": acc,
        "peak_rss_mib": rss,
        "train_images": 245,
        "val_images": 153,
        "cache_views": 2,
        "cache_added": {"resnet50-224-pool-0123456789ab": usage},
    }


def app_mode(classify_ms: float) -> dict:
    return {"rerun_new_upload_ms": classify_ms + 40, "rerun_cached_ms": 40.0, "classify_ms": classify_ms}


def scale(images: int, peak: float) -> dict:
    timings = {"seconds": images / 250, "check_s": images / 1000, "features_s": images / 500, "images_per_s": 500.0}
    return {"images": images, "backbone": "tinycnn", "input_size": 64, **timings, "peak_rss_mib": peak}


def served(images_per_s: float, p95_one: float) -> dict:
    def level(rate: float, p50: float, p95: float, batch: float) -> dict:
        return {"requests": 96, "images_per_s": rate, "latency_ms": {"p50": p50, "p95": p95}, "mean_batch": batch}

    return {
        "ready_s": 9.0,
        "1": level(images_per_s / 2, p95_one - 5, p95_one, 1.0),
        "8": level(images_per_s * 0.9, 400.0, 500.0, 6.5),
        "32": level(images_per_s, 1500.0, 1800.0, 21.0),
        "exit_code": 0,
    }


@pytest.fixture()
def results() -> dict:
    return {
        "time": {
            "default_cold": [train(1, 100.0, 0.96), train(2, 110.0, 0.95), train(3, 90.0, 0.97)],
            "default_warm": train(1, 20.0, 0.96),
            "classic": train(1, 850.0, 0.94, recipe="classic", rss=3000.0),
            "floor": {"seconds": 25.0, "images": 398, "images_per_s": 15.9},
        },
        "inference": {
            "images": 398,
            "batch_size": 32,
            "bare_images_per_s": 30.0,
            "cli_images_per_s": 28.5,
            "cli_seconds": 25.0,
            "forward_ms": {"p50": 50.0, "p95": 60.0},
            "predict_ms": {"p50": 70.0, "p95": 90.0},
            "gradcam_ms": {"p50": 140.0, "p95": 170.0},
        },
        "precision": {
            "float32": {"policy": "float32", "device": "CPU", "images_per_s": 30.0, "val_accuracy": 0.960},
            "mixed_bfloat16": {
                "policy": "mixed_bfloat16",
                "device": "CPU",
                "images_per_s": 45.0,
                "val_accuracy": 0.954,
            },
            "mixed_float16": {"policy": "mixed_float16", "skipped": "no GPU visible to TensorFlow"},
        },
        "export": {
            "images": 153,
            "batch_size": 32,
            "rows": [
                {"name": "Keras float32", "size_bytes": 95 * 2**20, "images_per_s": 20.0, "val_accuracy": 0.954},
                {
                    "name": "tflite int8",
                    "export_s": 61.0,
                    "size_bytes": 24 * 2**20,
                    "max_abs_diff": 0.03,
                    "top1_agreement": 0.987,
                    "images_per_s": 35.0,
                    "val_accuracy": 0.948,
                },
            ],
        },
        "app": {"peak_rss_mib": 1500.0, "with_gradcam": app_mode(200.0), "without_gradcam": app_mode(60.0)},
        "scale": {"small": scale(1_000, 900.0), "large": scale(20_000, 950.0)},
        "serve": {
            "images": 398,
            "clients": [1, 8, 32],
            "keras": {
                "bare": {"images_per_s": 20.0, "single_ms": {"p50": 55.0, "p95": 60.0}},
                "serve": served(17.0, 72.0),
            },
            "onnx": {"skipped": "tf2onnx not installed"},
        },
    }


def verdicts(results: dict) -> dict[str, bool | None]:
    return {t.name: t.met for t in build_targets(results)}


def test_targets_are_judged_on_the_measured_ratios(results: dict):
    targets = {t.name: t for t in build_targets(results)}
    assert len(targets) == len(TARGETS)
    cold = targets["classic / default total wall time, cold cache"]
    assert cold.measured == "8.5x" and cold.met is True  # 850 / mean(100, 110, 90)
    assert targets["classic / default total wall time, warm cache"].measured == "42.5x"
    floor = targets["default cold total / floor (one bare forward pass)"]
    assert floor.measured == "4.00x" and floor.met is False  # 100 / 25, goal <= 3
    assert targets["mixed bfloat16 accuracy change (points)"].measured == "0.60"
    assert targets["mixed bfloat16 accuracy change (points)"].met is False
    assert targets["mixed bfloat16 / float32 inference speed"].measured == "1.50x"
    assert targets["app: classify one upload / bare forward of one image"].measured == "1.20x"
    assert targets["app: classify with Grad-CAM / bare forward of one image"].met is False  # 200 / 50 = 4
    assert targets["training peak RSS, largest run (GiB)"].measured == "2.93"
    share = targets["serve, 32 clients / bare batched throughput (keras)"]
    assert share.measured == "0.85" and share.met is True  # 17 / 20
    latency = targets["serve p95 latency, 1 client / bare one-image forward p95 (keras)"]
    assert latency.measured == "1.20x" and latency.met is True  # 72 / 60


def test_failed_and_missing_measurements_are_reported_not_fatal(results: dict):
    broken = copy.deepcopy(results)
    broken["time"]["classic"] = {"error": "exit 1: Out of memory"}
    del broken["scale"]
    del broken["app"]
    broken["export"]["rows"][1] = {"name": "tflite int8", "error": "The tflite export failed verification: ..."}
    found = verdicts(broken)
    assert found["classic / default total wall time, cold cache"] is None
    assert found["scale: peak RSS, larger / smaller generated set"] is None
    assert found["default recipe val accuracy (mean of cold runs)"] is True
    text = render_text(build_tables(broken), build_targets(broken))
    assert "failed: exit 1: Out of memory" in text
    assert "skipped: no GPU visible to TensorFlow" in text
    assert "not measured" in text
    assert "failed: The tflite export failed verification" in text
    assert failures(broken) == ["time.classic", "export.rows[1]"]
    assert failures(results) == []


def test_markdown_report_holds_machine_command_tables_and_targets(results: dict):
    meta = {
        "command": "make bench",
        "date": "2025-01-01 12:00 UTC",
        "wall_minutes": 31.5,
        "quick": False,
        "data": "/data/hymenoptera",
        "machine": {"CPU": "Test CPU 9000", "logical cores": "2"},
        "versions": {"python": "3.11.7", "tensorflow-cpu": "2.21.0"},
    }
    tables, targets = build_tables(results), build_targets(results)
    doc = render_markdown(meta, tables, targets, ["one note"])
    assert doc.startswith("## Benchmark suite")
    assert "`make bench`" in doc and "2025-01-01 12:00 UTC" in doc and "tensorflow-cpu 2.21.0" in doc
    assert "not representative" not in doc
    for table in tables:
        assert f"### {table.title}" in doc
    assert "| default, seed 2, cold cache |" in doc
    assert "| mixed_bfloat16 | CPU | 45.0 | 0.954 | 1.50x | -0.6 points |" in doc
    assert "| feature cache resnet50-224-pool, per 1000 images | 9.0 MiB (17.4 MiB allocated on disk) |" in doc
    assert "| Keras float32 | - | 95.0 MiB | 20.0 | 0.954 | (reference) |" in doc
    assert "| tflite int8 | 61.0 s | 24.0 MiB | 35.0 | 0.948 | 3.0e-02 / 98.7% |" in doc
    assert "| 20,000 | tinycnn @ 64 px | 20.0 s | 40.0 s | 500 | 80.0 s | 950 MiB |" in doc
    assert "| keras | imgclf serve, 32 clients | 17.0 | 1500.0 ms | 1800.0 ms | 21.0 | 0.85 of bare batched |" in doc
    assert "| onnx | skipped: tf2onnx not installed |" in doc
    assert "- one note" in doc
    assert "not representative" in render_markdown({**meta, "quick": True}, tables, targets, [])


def test_result_line_is_found_among_other_output():
    stdout = f"some log line\n{RESULT_PREFIX}" + '{"images": 3}\ntrailing noise\n'
    assert parse_result(stdout) == {"images": 3}
    assert parse_result("no result here\n") is None


def test_report_block_replaces_only_its_previous_version():
    created = merge_report(None, "figures v1")
    assert created.startswith("# Benchmarks") and "figures v1" in created
    hand_written = "# Benchmarks\n\n## Evaluation\n\naccuracy 0.95, written by hand\n"
    appended = merge_report(hand_written, "figures v1")
    assert appended.startswith(hand_written.rstrip()) and "figures v1" in appended
    edited = appended + "\n## Notes after the block\n"
    updated = merge_report(edited, "figures v2")
    assert "figures v2" in updated and "figures v1" not in updated
    assert "written by hand" in updated and "## Notes after the block" in updated
    assert merge_report(updated, "figures v2") == updated


def ray_job(actors: int, seconds: float) -> dict:
    rates = {"images_per_s": 1000 / seconds, "steady_images_per_s": 990 / (seconds - 10.0)}
    return {"rows": 1000, "seconds": seconds, "first_rows_s": 10.0, **rates, "actors": actors, "driver_rss_mib": []}


def test_ray_table_shows_engines_start_up_and_the_streaming_run(results: dict):
    stream = {**ray_job(1, 110.0), "images": 100_000, "load_avg": [1.0, 1.5],
              "driver_rss_mib": [[5000, 810.0], [100_000, 812.0]]}  # fmt: skip
    engines = {"local": {"images_per_s": 500.0, "seconds": 2.0}, "ray_init_s": 4.5, "load_avg": [0.5, 1.0],
               "ray_1_actor": ray_job(1, 20.0), "ray_2_actors": ray_job(2, 15.0)}  # fmt: skip
    head = {
        "rows": 65_536,
        "rows_per_s": 3000.0,
        "epoch_s": 21.0,
        "rss_anon_after_mib": 314.0,
        "rss_file_after_mib": 775.0,
    }
    table = build_tables({**results, "ray": {"engines": engines, "stream": stream, "head": {"2 GiB": head}}})[-1]
    assert table.title.endswith("(load average during the Ray runs 0.5, 1.0, 1.0, 1.5)")
    assert table.rows[5][-1] == "21.0 s; RssAnon 314 MiB, RssFile 775 MiB" and "2 GiB" in table.rows[5][0]
    assert table.rows[0] == ("local engine, in process", "", "500 images/s", "", "2.0 s")
    assert table.rows[2] == ("Ray engine, 2 actors", "10.0 s", "67 images/s", "198 images/s", "15.0 s")
    assert table.rows[3][-1] == "4.5 s" and "driver RSS 810 -> 812 MiB" in table.rows[4][-1]
    skipped = render_text(build_tables({**results, "ray": {"skipped": "Ray is not installed"}}), [])
    assert "skipped: Ray is not installed" in skipped


def test_suite_rerun_of_one_recipe_keeps_the_other_measurements():
    from benchmarks.suite import merge_results, tables

    fast = {"accuracy": 0.73, "val_accuracy": 0.8, "train_seconds": 74.0, "accuracy_ci": [0.65, 0.82]}
    fast["ood_auroc"] = 0.95
    previous = {
        "fashion_mnist": {"fast": [fast], "classic": [{"error": "exit -15: no output"}]},
        "brain_mri": {"fast": [fast], "classic": [{"error": "exit -15: no output"}], "near_ood": {"ood_auroc": 0.76}},
    }
    new = {"brain_mri": {"classic": [{"accuracy": 0.55, "val_accuracy": 0.6, "train_seconds": 148.0}]}}
    merged = merge_results(previous, new)
    assert list(merged) == ["brain_mri", "fashion_mnist"]  # the suite's order
    assert merged["brain_mri"]["fast"] == [fast] and merged["brain_mri"]["near_ood"] == {"ood_auroc": 0.76}
    assert previous["brain_mri"]["classic"] == [{"error": "exit -15: no output"}]  # the input is not changed
    accuracy, trust = tables(merged)
    brain, fashion = accuracy.rows
    assert [row[4] for row in trust.rows] == ["0.760", "-"]  # kept, and not measured
    assert brain[2] == "0.550" and brain[8] == "148 s" and brain[9] == "2.0x"
    assert brain[6] == "0.950 / 0.760" and fashion[6] == "0.950 / -"  # far- and near-OOD AUROC
    assert fashion[2] == "-" and fashion[9] == "-"  # the failed classic run shows as missing
    assert tables({"flowers": {"classic": [{"accuracy": 0.8}]}})[1].rows[0][1] == "-"  # no default run yet
    two_classes = {"hymenoptera": {"fast": [fast], "near_ood": {"skipped": "2 classes"}}}
    assert tables(two_classes)[1].rows[0][4] == "n/a (2 classes)"


def test_suite_rebuild_prints_the_kept_tables_and_refuses_bad_input(tmp_path, capsys):
    from benchmarks.suite import main

    kept = tmp_path / "suite.json"
    kept.write_text('{"brain_mri": {"classic": [{"accuracy": 0.57, "train_seconds": 347.0}]}}', encoding="utf-8")
    before = kept.read_text(encoding="utf-8")
    assert main(["--rebuild", "--json", str(kept)]) == 0
    out = capsys.readouterr().out
    assert "| brain_mri | - [-, -] | 0.570 |" in out and "measured nothing" in out
    assert kept.read_text(encoding="utf-8") == before, "a rebuild never rewrites the results"
    with pytest.raises(SystemExit) as missing:
        main(["--rebuild"])
    assert missing.value.code == 2
    kept.write_text("{not json", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"cannot read .* fix or move it"):
        main(["--rebuild", "--json", str(kept)])
    with pytest.raises(SystemExit) as bad:
        main(["--seeds", "one", "--json", str(kept)])
    assert bad.value.code == 2 and "seeds must be whole numbers" in capsys.readouterr().err
