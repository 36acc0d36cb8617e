"""Home: what the studio does, which model is loaded, and links to every page."""
import streamlit as st

from fer_core.catalog.evaluations import tta_name
from fer_core.common.labels import LABELS
from fer_core.catalog.model import ModelError
from fer_core.catalog.model_info import describe, format_params
from ui import about, navigation, resources, sidebar

settings = sidebar.current()

st.title("FER Studio")
try:
    loaded = describe(settings.model_dir) if settings.model_dir is not None else None
except ModelError:
    loaded = None  # said below, under "Loaded model"
st.markdown(
    f"Facial-expression recognition on **FER2013**'s {len(LABELS)} labels ({', '.join(LABELS)}). "
    "Faces are found with a face detector, cropped, reduced to 48×48 grey and classified by "
    + (about.model_summary(loaded) if loaded else "the model chosen in the sidebar")
    + ", trained on FER2013. Explore the data, analyse photos, videos or your webcam live, and see how well "
    "the model does and where it fails."
)

st.header(about.TITLE)
st.markdown(about.markdown())
card = about.model_card()
if card is not None:
    with st.expander("Model card: what the models are for, their data, figures and limits"):
        st.markdown(card)

st.header("Loaded model")
if settings.model_dir is None:
    st.warning(sidebar.NO_MODEL_ADVICE)
else:
    try:
        info = describe(settings.model_dir)
    except ModelError as exc:
        st.error(str(exc))
    else:
        best = info.headline()
        cols = st.columns([1, 1.6, 1, 1])  # room for the accuracy label with its TTA
        cols[0].metric("Model", info.name)
        cols[1].metric(f"PrivateTest accuracy ({tta_name(best.tta)})" if best else "PrivateTest accuracy",
                       f"{best.accuracy:.1%}" if best else "not evaluated")
        cols[2].metric("Parameters", format_params(info.params))
        cols[3].metric("Size on disk", f"{info.size_bytes / 2**20:.1f} MB")
        training = info.training
        st.caption(
            f"Architecture {info.architecture}; default test-time augmentation: {tta_name(info.tta)}; "
            f"{training.epochs()} ({training.framework or 'framework unknown'})."
        )
        if best is None:
            st.info("This model has no test-set score yet: run "
                    f"`python -m fer_core evaluate --split PrivateTest --record --model {resources.model_argument(info.folder)}`.")

st.header("Pages")
for spec in navigation.PAGES[1:]:
    with st.container(border=True):
        st.page_link(navigation.make_page(spec), label=spec.title, icon=spec.icon)
        st.caption(spec.blurb)

st.caption("Settings in the sidebar (model, face detector, minimum confidence) apply to every page.")
