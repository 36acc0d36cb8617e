"""Home, Evaluation and Dataset pages: the commands, names and messages they print (AppTest), and
the ``ui.resources`` helpers behind them. App-wide checks live in ``test_app.py``."""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

# Before anything loads TensorFlow: aiortc's pylibsrtp segfaults when imported after it.
import streamlit_webrtc.component  # isort: skip
import pytest
from streamlit.testing.v1 import AppTest

from fer_core.data.fer2013 import DATA_ENV, DEFAULT_DATA
from fer_core.catalog.evaluations import tta_name
from fer_core.catalog.model import TTA_MODES, is_ensemble, live_model_dir, read_metadata
from fer_core.catalog.model_info import describe, format_params
from ui import resources

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "streamlit_app.py"
REAL_DATA = Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)
TIMEOUT = 300  # first loads (TensorFlow, FER2013) are slow on a busy 2-core machine


@pytest.fixture(autouse=True)
def no_webrtc_session(monkeypatch):
    """streamlit-webrtc asks the runtime for the browser session; AppTest's mock has none."""
    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)


@pytest.fixture
def without_data(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "missing" / "fer2013.csv"))


@pytest.fixture
def with_data(monkeypatch):
    assert REAL_DATA.is_file(), f"FER2013 is needed at {REAL_DATA} (set {DATA_ENV})"
    monkeypatch.setenv(DATA_ENV, str(REAL_DATA))


def single_model() -> Path:
    """The fast bundled model: a single network (its folder complete on its own) that the sidebar
    offers, and the quickest to run."""
    model = live_model_dir()
    assert (model / "metadata.json").is_file() and not is_ensemble(read_metadata(model)), (
        f"the page tests need a bundled single model, such as models/student16 (found {model})")
    return model


def use_models(monkeypatch, *folders: Path) -> None:
    monkeypatch.setattr(resources, "model_folders", lambda: list(folders))


def run_page(page: str, model: Path | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if model is not None:
        at.session_state["fer_model"] = str(model)
    at.run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


# ------------------------------------------------------------------ ui.resources helpers
@pytest.mark.parametrize("params, shown", [(None, "–"), (0, "–"), (2_345_678, "2.35 M"), (64_000, "0.06 M")])
def test_parameter_counts_have_one_format(params, shown):
    assert format_params(params) == shown


def test_model_argument_names_the_real_folder(monkeypatch, tmp_path):
    work, store = tmp_path / "work", tmp_path / "store"
    (work / "models" / "mix3c").mkdir(parents=True)
    (store / "my model").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(resources, "MODELS_DIR", store)
    monkeypatch.delenv("FER_MODELS_DIR", raising=False)
    assert resources.model_argument(work / "models" / "mix3c") == "models/mix3c"  # under the working directory
    assert resources.model_argument(store / "my model") == f"'{store / 'my model'}'"  # elsewhere: the full path, quoted
    monkeypatch.setenv("FER_MODELS_DIR", str(store))
    assert resources.model_argument(store / "my model") == "$FER_MODELS_DIR/'my model'"  # no server path printed


def test_uploaded_csv_is_parsed_with_a_progress_bar(monkeypatch):
    """An upload gets the default file's progress bar (load_csv's progress callback), without 'kept'."""
    calls = []

    class Recorder:
        def __init__(self, name: str, kept: bool = True):
            self.name, self.kept = name, kept

        def __call__(self, done: int, total: int) -> None:
            calls.append((self.name, self.kept, done, total))

        def close(self) -> None:
            calls.append("closed")

    monkeypatch.setattr(resources, "_ParseProgress", Recorder)
    with gzip.open(REAL_DATA, "rt") if REAL_DATA.suffix == ".gz" else open(REAL_DATA) as handle:
        text = "".join(next(handle) for _ in range(301))  # header + 300 real rows
    resources.load_upload.clear()
    data = resources.load_upload("upload-1", "mine.csv", text.encode(), False)
    assert len(data) == 300
    assert calls[-1] == "closed" and calls[-2] == ("mine.csv", False, 300, 300)


# ------------------------------------------------------------------ pages
def test_commands_name_a_model_outside_the_checkout_by_fer_models_dir(without_data, monkeypatch, tmp_path):
    """With $FER_MODELS_DIR elsewhere, the printed commands name that folder, not models/<name>."""
    source = single_model()
    store = tmp_path / "store"
    folder = store / source.name
    folder.mkdir(parents=True)
    shutil.copy(source / "metadata.json", folder / "metadata.json")  # no evaluation: the pages print commands
    use_models(monkeypatch, folder)
    monkeypatch.setattr(resources, "MODELS_DIR", store)
    monkeypatch.setenv("FER_MODELS_DIR", str(store))
    info = describe(folder)
    expected = f"--model $FER_MODELS_DIR/{source.name}"

    home = run_page("home")
    shown = texts(home)
    assert f"python -m fer_core evaluate --split PrivateTest --record {expected}" in shown
    from ui import about

    assert f"models/{source.name}" not in shown.replace(about.model_card(), "")  # the card names the bundled folders
    assert {m.label: m.value for m in home.metric}["Parameters"] == format_params(info.params)
    assert f"default test-time augmentation: {tta_name(info.tta)}" in shown

    evaluation = run_page("evaluation")
    shown = texts(evaluation)
    for split in ("PrivateTest", "PublicTest"):
        assert f"python -m fer_core evaluate --split {split} --record {expected}" in shown
    assert f"parameters: {format_params(info.params)}" in shown
    assert f"models/{source.name}" not in shown


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(architecture=["vgg"]), "'architecture' must be an object with a string 'name'"),
    (lambda m: m["architecture"].update(params="1.2M"), "architecture.params must be a whole number"),
])
@pytest.mark.parametrize("page", ["home", "evaluation"])
def test_bad_metadata_types_are_one_clear_message(without_data, monkeypatch, tmp_path, page, change, message):
    folder = tmp_path / "broken"
    folder.mkdir()
    metadata = read_metadata(single_model())
    change(metadata)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    use_models(monkeypatch, folder)
    at = run_page(page)  # no exception (checked there): no traceback on the page
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_a_typed_image_folder_that_is_missing_is_named(without_data, tmp_path):
    """A mistyped path is the user's to fix: the message names it, not the server's $FER_DATA."""
    typed = str(tmp_path / "no-such-folder")
    at = run_page("dataset")
    at.radio(key="data_source").set_value("Image folder").run()
    at.text_input(key="data_folder").input(typed).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(f"No image folder at `{typed}`" in e for e in errors), errors
    assert "configured path" not in texts(at) and DATA_ENV not in "\n".join(errors)


def test_gallery_names_tta_modes_for_people(with_data, monkeypatch):
    model = single_model()
    at = run_page("evaluation", model)
    tta = at.selectbox(key="gallery_tta")
    assert list(tta.options) == [tta_name(mode) for mode in TTA_MODES]  # AppTest lists the formatted options
    assert tta.value in TTA_MODES
    assert "a few seconds" not in tta.help and "ten-crop and shift run 10 views per face" in tta.help
    assert any(f"with {tta_name(tta.value)})" in c.value for c in at.caption)
    table = at.dataframe[0].value  # the stored evaluations
    assert set(table["TTA"]) <= {tta_name(mode) for mode in TTA_MODES}


def test_gallery_refuses_a_model_with_another_label_order(with_data, monkeypatch, tmp_path):
    source = single_model()
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    metadata = read_metadata(folder)
    metadata["labels"] = list(reversed(metadata["labels"]))
    (folder / "metadata.json").write_text(json.dumps(metadata))
    use_models(monkeypatch, folder)
    at = run_page("evaluation")
    errors = [e.value for e in at.error]
    assert any("are not FER2013's" in e for e in errors), errors
    assert "gallery_tta" not in [s.key for s in at.selectbox]  # stopped before classifying anything
