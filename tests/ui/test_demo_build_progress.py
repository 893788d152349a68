"""While the demo models are built in the background, the Models page shows the build's progress
from its status file, and each model joins the table as soon as it is ready, without Rescan."""

import os
import subprocess
import sys

from dashboard_testing import no_exception, rendered

from llm_compare.services.discovery import demo_build
from llm_compare.services.discovery.demo_build import DemoBuildStatus, write_status


def progress_bars(at):
    return [(bar.proto.value, bar.proto.text) for bar in at.get("progress")]


def test_models_page_follows_the_build_and_lists_each_model_when_ready(make_app, tmp_path, tiny_dir):
    models = tmp_path / "models"
    models.mkdir()
    status = DemoBuildStatus(
        "building",
        str(models),
        stage="training stdlib-llama-0.3m",
        fraction=0.4,
        models_total=2,
        elapsed_s=20.0,
        remaining_s=30.0,
        **demo_build.process_identity(os.getpid()),
    )
    write_status(status)
    at = make_app(models)
    no_exception(at)
    [(value, text)] = progress_bars(at)
    assert value == 40
    assert "training stdlib-llama-0.3m" in text and "0 of 2 ready" in text and "00:30 left" in text
    assert any("being built" in info.value for info in at.info)
    assert not at.dataframe

    # The build writes its first model (here: the tiny one) and says so in the status file.
    (models / "tiny-llama-f32.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
    status.models_ready, status.stage, status.fraction = ["tiny-llama-f32"], "training stdlib-llama-1.4m", 0.5
    write_status(status)
    at.run()
    assert list(at.dataframe[0].value["name"]) == ["tiny-llama-f32"]  # no Rescan pressed
    assert "1 of 2 ready" in progress_bars(at)[0][1]

    status.state, status.fraction, status.stage = "done", 1.0, "done"
    write_status(status)
    at.run()
    assert not progress_bars(at) and not at.warning


def test_models_page_says_when_the_build_stopped_before_it_finished(make_app, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = demo_build.process_identity(gone.pid)
    gone.kill()
    gone.wait()
    write_status(DemoBuildStatus("building", str(models), models_total=2, **identity))
    at = make_app(models)
    no_exception(at)
    assert not progress_bars(at)
    [warning] = at.warning
    assert "stopped before it finished" in warning.value and "llm-compare demo" in warning.value


def test_a_failed_build_shows_its_error_as_written(make_app, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    error = "OSError: [Errno 28] No space left on device: '/data/__init__.py'"
    write_status(DemoBuildStatus("failed", str(models), models_total=2, error=error))
    at = make_app(models)
    [warning] = at.warning
    assert f"The demo build failed: {error} (0 of 2 models ready)." in rendered(warning.value)
