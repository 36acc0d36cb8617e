"""Home: what the studio does, which model is loaded, and links to every page."""
import streamlit as st

from fer_core.evaluate import tta_name
from fer_core.labels import LABELS
from fer_core.model import ModelError
from ui import navigation, resources, sidebar

settings = sidebar.current()

st.title("FER Studio")
st.markdown(
    f"Facial-emotion recognition on **FER2013**'s {len(LABELS)} emotions ({', '.join(LABELS)}). "
    "Faces are found with a face detector, cropped, reduced to 48×48 grey and classified by a compact CNN "
    "trained on FER2013. Explore the data, analyse photos, videos or your webcam live, and see how well the "
    "model does and where it fails."
)

st.header("Loaded model")
if settings.model_dir is None:
    st.warning("No model found among the bundled models. Train one with `python -m fer_core train` and copy its "
               "folder into models/, or set FER_MODELS_DIR to a folder of models.")
else:
    try:
        card = resources.model_card(settings.model_dir)
    except ModelError as exc:
        st.error(str(exc))
    else:
        best = card.headline("PrivateTest")
        cols = st.columns([1, 1.6, 1, 1])  # room for the accuracy label with its TTA
        cols[0].metric("Model", card.name)
        cols[1].metric(f"PrivateTest accuracy ({tta_name(best.tta)})" if best else "PrivateTest accuracy",
                       f"{best.accuracy:.1%}" if best else "not evaluated")
        cols[2].metric("Parameters", resources.format_params(card.params))
        cols[3].metric("Size on disk", f"{card.size_bytes / 2**20:.1f} MB")
        training = card.metadata.get("training", {})
        st.caption(
            f"Architecture {card.architecture}; default test-time augmentation: {tta_name(card.tta)}; "
            f"{training.get('epochs_run', '?')} epochs ({training.get('framework', 'framework unknown')})."
        )
        if best is None:
            st.info("This model has no test-set score yet: run "
                    f"`python -m fer_core evaluate --split PrivateTest --record --model {resources.model_argument(card.folder)}`.")

st.header("Pages")
for spec in navigation.PAGES[1:]:
    with st.container(border=True):
        st.page_link(navigation.make_page(spec), label=spec.title, icon=spec.icon)
        st.caption(spec.blurb)

st.caption("Settings in the sidebar (model, face detector, minimum confidence) apply to every page.")
