"""Face-detection rate: the share of images in which OpenCV's Haar detector finds a face."""

import functools

import cv2
import numpy as np

from facegan.errors import FaceganError
from facegan.metrics.features import Features

FACE_SIZE = 128
FACE_DETECTOR = ("opencv haar frontalface_default at 128px (bilinear), scale 1.1, "
                 "5 neighbours, min face 48px")


def face_detector_available():
    """Whether this OpenCV has the Haar cascades (4.x does; 5.x moved them out)."""
    return hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "data")


@functools.cache
def _cascade():
    cascade = (cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
               if face_detector_available() else None)
    if cascade is None or cascade.empty():
        raise FaceganError(f"OpenCV {cv2.__version__} has no Haar face cascade for face_rate; "
                           f"install opencv-python-headless<5 (5.x ships none)")
    return cascade


def detect_faces(images):
    """Whether OpenCV's Haar frontal-face detector finds a face in each uint8 image.

    Images are upscaled to 128 px first: the cascade's 24 px window misses faces at 64 px.
    The settings are fixed so rates compare between runs; the minimum face of 48 px (3/8 of
    the frame) matches aligned face crops and keeps textures from counting. Real CelebA crops
    at 64 px score about 0.95, noise 0, one average face 1: never report this rate alone.
    """
    found = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        image = cv2.resize(np.ascontiguousarray(image), (FACE_SIZE, FACE_SIZE),
                           interpolation=cv2.INTER_LINEAR)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        faces = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                            minSize=(48, 48))
        found[i] = len(faces) > 0
    return found


class FaceCounts(Features):
    """[images with a detected face, images] of a set."""

    def start(self):
        return [0, 0]

    def update(self, counts, batch):
        counts[0] += int(detect_faces(batch).sum())
        counts[1] += len(batch)

    def result(self, counts):
        return counts


def face_rate(family, generated, real):
    return {"value": generated[0] / max(generated[1], 1), "real": real[0] / max(real[1], 1),
            "n_real": real[1], "extractor": FACE_DETECTOR}
