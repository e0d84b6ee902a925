import numpy as np


def test_opencv_contrib_available():
    import cv2

    assert hasattr(cv2, "ximgproc"), "opencv-contrib (cv2.ximgproc) is required by guided-filter fusion"
    guide = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    constant = np.full((20, 24), 0.25, dtype=np.float32)
    # a guided filter reproduces a constant input whatever the guide
    np.testing.assert_allclose(cv2.ximgproc.guidedFilter(guide, constant, 3, 1e-3), 0.25, atol=1e-6)
