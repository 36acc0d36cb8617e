"""FER2013 faces re-cropped by the studio's own detector: found, the same face, still classifiable."""
import numpy as np

from fer_core.inference.detect import LIVE_DETECTOR, make_detector
from experiments.pipeline_crops import UPSCALE, frame_face, pipeline_crops


def test_frame_face_enlarges_and_frames_a_real_face(fer_data):
    face = fer_data.split("PublicTest")[0][0]
    frame = frame_face(face)
    side = 48 * UPSCALE * 2
    assert frame.shape == (side, side, 3) and frame.dtype == np.uint8
    centre = frame[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4, 0]
    assert np.corrcoef(centre[::UPSCALE, ::UPSCALE].ravel().astype(float), face.ravel().astype(float))[0, 1] > 0.95


def test_pipeline_crops_find_most_faces_and_keep_them_recognisable(fer_data, classifier):
    images, labels = fer_data.split("PublicTest")
    images, labels = images[:200], labels[:200]
    crops, found = pipeline_crops(images, make_detector(LIVE_DETECTOR))
    assert crops.shape == (200, 48, 48) and crops.dtype == np.uint8
    assert found.mean() > 0.9
    assert np.array_equal(crops[~found], images[~found])  # a missed face keeps its own crop
    # the crop is the same face, a little shifted or scaled: strongly correlated with the original
    correlation = [np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
                   for a, b in zip(crops[found], images[found])]
    assert np.median(correlation) > 0.6
    original = (classifier.predict_proba(images, "none").argmax(1) == labels).mean()
    pipeline = (classifier.predict_proba(crops, "none").argmax(1) == labels).mean()
    print(f"200 PublicTest faces: accuracy {original:.3f} on FER2013's crops, {pipeline:.3f} on the pipeline's")
    assert pipeline > original - 0.08
