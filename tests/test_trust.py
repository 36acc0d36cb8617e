"""Outputs a user can trust and cite: the licences, the citation file, ``--version``, provenance records."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


import fer_core
from fer_core.catalog.model import default_model_dir, live_model_dir, weight_files
from fer_core.catalog.provenance import provenance, version_text, weights_sha256
from fer_core.common.hashing import file_sha256

REPO = Path(__file__).resolve().parent.parent


def test_code_weights_and_detector_have_stated_licences():
    assert "MIT License" in (REPO / "LICENSE").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^license = \{ text = "MIT" \}', pyproject, re.M)
    weights = (REPO / "models" / "LICENSE.md").read_text()
    assert "FER2013" in weights and "commercial" in weights
    assert "Apache License" in (REPO / "fer_core" / "assets" / "NOTICE").read_text()


def test_citation_file_names_this_version():
    citation = (REPO / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation
    assert re.search(rf"^version: {re.escape(fer_core.__version__)}$", citation, re.M)


def test_version_prints_the_package_version_and_the_default_weights_hashes():
    result = subprocess.run([sys.executable, "-m", "fer_core", "--version"], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"fer-studio {fer_core.__version__}"
    for folder in (default_model_dir(), live_model_dir()):
        for path, digest in weights_sha256(folder).items():
            assert f"sha256 {digest}  {path}" in result.stdout
    assert result.stdout == version_text() + "\n"


def test_provenance_names_the_weights_run_and_their_hashes():
    folder = live_model_dir()
    keras = provenance(folder, runtime="keras", detector="blazeface", tta="none")
    assert keras["version"] == fer_core.__version__ and keras["detector"] == "blazeface"
    assert keras["model"]["weights_sha256"] == {
        path.resolve().relative_to(REPO).as_posix(): file_sha256(path) for path in weight_files(folder)}
    aligned = provenance(folder, detector=None, baseline_fingerprint="abc")
    assert aligned["detector"].startswith("none") and aligned["neutral_baseline"] == "abc"
    assert all(path.endswith(".tflite") for path in aligned["model"]["weights_sha256"])


def test_home_states_the_limits_describes_the_loaded_model_and_links_the_card(monkeypatch):
    import streamlit_webrtc.component  # before TensorFlow (see conftest)
    from streamlit.testing.v1 import AppTest

    from fer_core.catalog.model_info import describe
    from ui import about

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    at.session_state["fer_model"] = str(default_model_dir())
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = "\n".join(e.value for e in at.markdown)
    assert about.markdown() in shown
    info = describe(default_model_dir())
    assert about.model_summary(info) in shown
    assert "ensemble averaging the probabilities of 3 networks" in about.model_summary(info)
    assert "compact CNN" not in shown
    assert any("Model card" in e.label for e in at.expander)
    assert about.model_card().splitlines()[0] in shown  # the card itself, rendered


def test_readme_and_model_card_state_the_limits_home_shows():
    from ui import about

    readme = (REPO / "README.md").read_text()
    assert f"## {about.TITLE}" in readme
    assert about.markdown() in readme  # the same words as Home (edit ui/about.py, then paste)
    card = about.model_card()
    assert "Art. 5(1)(f)" in card and "Art. 50(3)" in card
    assert '"looks Happy"' not in card  # the app draws "P1 Happy 87%": the card quotes that


def test_fer_models_dir_adds_a_folder_of_models_to_the_bundled_ones(monkeypatch, tmp_path):
    import shutil

    from fer_core.catalog.model import BUNDLED_MODELS_DIR, DEFAULT_MODEL_NAME, MODELS_DIR_ENV, list_models

    bundled = list_models()
    mine = tmp_path / "mine"
    shutil.copytree(live_model_dir(), mine / "my-model", ignore=shutil.ignore_patterns("evaluation"))
    monkeypatch.setenv(MODELS_DIR_ENV, str(mine))
    monkeypatch.delenv("FER_MODEL", raising=False)
    listed = list_models()
    assert listed == bundled + [mine / "my-model"]
    assert default_model_dir() == BUNDLED_MODELS_DIR / DEFAULT_MODEL_NAME  # the CLI default still works


def test_the_stream_limit_sees_a_container_cpu_quota(tmp_path):
    from ui.stream_slots import available_cores, cgroup_cpu_limit, derived_max_streams

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert cgroup_cpu_limit(str(quota)) == 1.5
    assert available_cores(str(quota)) <= 1.5
    assert derived_max_streams(available_cores(str(quota))) <= derived_max_streams(1.5)
    quota.write_text("max 100000\n")
    assert cgroup_cpu_limit(str(quota)) is None
    assert cgroup_cpu_limit(str(tmp_path / "missing")) is None
