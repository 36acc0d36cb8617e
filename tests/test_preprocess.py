import cv2
import numpy as np
import pytest

from fer_core.catalog.input_spec import InputSpec
from fer_core.inference.preprocess import preprocess_faces, to_grey


def test_training_and_inference_paths_give_the_same_array(fer_data):
    """A FER2013 image as a training batch and as an RGB 'photo' crop preprocess identically."""
    images = fer_data.images[:16]
    spec = InputSpec()
    as_batch = preprocess_faces(images, spec)
    as_crops = preprocess_faces([cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) for img in images], spec)
    assert as_batch.shape == (16, 48, 48, 1) and as_batch.dtype == np.float32
    np.testing.assert_array_equal(as_batch, as_crops)
    assert as_batch.min() >= 0 and as_batch.max() <= 1


def test_rgb_spec_replicates_grey(fer_data):
    out = preprocess_faces(fer_data.images[:2], InputSpec(channels=3))
    assert out.shape == (2, 48, 48, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_large_crop_is_resized_and_rgba_accepted(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    out = preprocess_faces([astronaut, rgba], InputSpec())
    assert out.shape == (2, 48, 48, 1)
    np.testing.assert_allclose(out[0], out[1], atol=1 / 255)


def test_to_grey_rejects_odd_shapes():
    with pytest.raises(ValueError, match="grey, RGB or RGBA"):
        to_grey(np.zeros((4, 4, 2), np.uint8))


def test_empty_list_gives_empty_batch():
    assert preprocess_faces([], InputSpec()).shape == (0, 48, 48, 1)


@pytest.mark.parametrize("kwargs", [{"channels": 2}, {"size": 4}, {"scale": 0}])
def test_input_spec_validates(kwargs):
    with pytest.raises(ValueError):
        InputSpec(**kwargs)


@pytest.mark.parametrize("channels", [1, 3])
def test_input_blur_blurs_each_face_on_its_own_and_keeps_the_shape(fer_data, channels):
    """Shape and brightness kept, fine detail removed, and no face bleeds into the next."""
    from fer_core.inference.preprocess import input_blur

    batch = preprocess_faces(fer_data.split("PublicTest")[0][:16], InputSpec(channels=channels))
    blurred = input_blur(batch, 0.6)
    assert blurred.shape == batch.shape and blurred.dtype == np.float32
    np.testing.assert_allclose(blurred.mean(axis=(1, 2, 3)), batch.mean(axis=(1, 2, 3)), atol=0.01)
    detail = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert detail(blurred) < 0.8 * detail(batch)
    np.testing.assert_array_equal(input_blur(batch[3:4], 0.6), blurred[3:4])
    assert input_blur(batch, 0.0) is batch
