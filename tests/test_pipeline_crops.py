"""FER2013 faces found and re-cropped by the studio's own pipeline: found, the same face, still classifiable."""
import cv2
import numpy as np

from fer_core.evaluation.sample_frames import UPSCALE, frame_face
from fer_core.inference.detect import LIVE_DETECTOR, make_detector
from fer_core.inference.pipeline import make_pipeline


def test_frame_face_enlarges_and_frames_a_real_face(fer_data):
    face = fer_data.split("PublicTest")[0][0]
    frame = frame_face(face)
    side = 48 * UPSCALE * 2
    assert frame.shape == (side, side, 3) and frame.dtype == np.uint8
    centre = frame[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4, 0]
    assert np.corrcoef(centre[::UPSCALE, ::UPSCALE].ravel().astype(float), face.ravel().astype(float))[0, 1] > 0.95


def test_pipeline_crops_find_most_faces_and_keep_them_recognisable(fer_data, classifier):
    """The pipeline's own crops of 200 framed PublicTest faces: most found, the same face, accuracy kept."""
    images, labels = fer_data.split("PublicTest")
    images, labels = images[:200], labels[:200]
    pipeline = make_pipeline(classifier, make_detector(LIVE_DETECTOR))
    batches = [pipeline.run(frame_face(face)) for face in images]
    found = np.array([len(b) > 0 for b in batches])
    assert found.mean() > 0.9
    crops = np.array([cv2.resize(cv2.cvtColor(b.crops[0], cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
                      for b in np.array(batches, dtype=object)[found]])
    # the crop is the same face, a little shifted or scaled: strongly correlated with the original
    correlation = [np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
                   for a, b in zip(crops, images[found])]
    assert np.median(correlation) > 0.6
    original = (classifier.predict_proba(images[found], "none").argmax(1) == labels[found]).mean()
    through = np.mean([b.faces()[0].label == classifier.labels[y] for b, y in zip(np.array(batches, dtype=object)[found],
                                                                               labels[found])])
    print(f"{found.sum()} PublicTest faces found: accuracy {original:.3f} on FER2013's crops, {through:.3f} through the pipeline")
    assert through > original - 0.08
