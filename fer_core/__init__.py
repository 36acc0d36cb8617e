"""fer_core: the FER2013 pipeline shared by the CLI and the Streamlit studio."""
from fer_core.common.labels import LABELS, NUM_CLASSES

__all__ = ["LABELS", "NUM_CLASSES"]
__version__ = "0.1.0"
