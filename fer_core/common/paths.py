"""Where the package's own files are: its folder, its bundled assets and the checkout around it."""
from pathlib import Path

#: the fer_core package folder
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: files shipped inside the package (the BlazeFace networks, the sample face)
ASSETS_DIR = PACKAGE_DIR / "assets"
#: the folder that holds fer_core (a checkout's root: models/, docs/)
ROOT_DIR = PACKAGE_DIR.parent
