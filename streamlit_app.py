"""FER Studio: the Streamlit entry point. Run ``streamlit run streamlit_app.py``.

Registers the pages (``ui.navigation``) and draws the sidebar settings every page shares.
"""
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

# Import order matters: aiortc's pylibsrtp (pulled in by streamlit-webrtc) segfaults when it
# is loaded after TensorFlow, so load it first, before any page loads a model.
import streamlit_webrtc  # noqa: F401, E402

import streamlit as st  # noqa: E402

from ui import navigation, sidebar  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
st.set_page_config(page_title="FER Studio", page_icon=":material/sentiment_satisfied:", layout="wide")

page = st.navigation(navigation.all_pages())
sidebar.render()
page.run()
