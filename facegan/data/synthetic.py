"""Synthetic cartoon faces the project draws itself, for tests, demos and teaching.

They have real face structure (head, skin tone, hair, eyes, brows, nose, mouth, background)
and vary in pose, size, colours and expression, so a GAN has something to learn, but they
are drawings, never presented as real data. Face i depends only on (seed, i).
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SKIN_TONES = [(255, 224, 196), (241, 194, 158), (224, 172, 126), (198, 134, 90),
              (161, 102, 66), (112, 72, 48), (84, 54, 38)]
HAIR_COLOURS = [(20, 16, 14), (60, 40, 25), (110, 70, 40), (170, 120, 60), (220, 190, 120),
                (160, 160, 160), (140, 40, 20)]
IRIS_COLOURS = [(70, 45, 25), (40, 90, 140), (60, 110, 60), (100, 80, 50)]


def _jitter(rng, colour, amount=18):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def draw_face(rng, size=128):
    """One face as a PIL image of size x size, drawn from the generator `rng`."""
    s = size
    top, bottom = _jitter(rng, rng.integers(40, 230, 3), 0), _jitter(rng, rng.integers(20, 200, 3), 0)
    ramp = np.linspace(0, 1, s)[:, None, None]
    background = (np.array(top) * (1 - ramp) + np.array(bottom) * ramp) * np.ones((1, s, 1))
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(image)

    cx = s * (0.5 + rng.uniform(-0.06, 0.06))
    cy = s * (0.54 + rng.uniform(-0.05, 0.05))
    rx = s * rng.uniform(0.22, 0.29)
    ry = rx * rng.uniform(1.15, 1.4)
    skin = _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))])
    hair = _jitter(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 12)
    shade = tuple(int(c * 0.8) for c in skin)

    d.rectangle([cx - rx * 0.45, cy + ry * 0.6, cx + rx * 0.45, s], fill=shade)  # neck
    d.ellipse([cx - rx * 1.6, cy + ry * 1.15, cx + rx * 1.6, cy + ry * 2.4],
              fill=_jitter(rng, rng.integers(30, 220, 3), 0))  # shoulders / clothes
    hair_length = rng.uniform(0.2, 1.1)
    hair_width = rng.uniform(1.1, 1.35)
    d.ellipse([cx - rx * hair_width, cy - ry * 1.12, cx + rx * hair_width,
               cy + ry * hair_length], fill=hair)  # hair behind the head
    d.ellipse([cx - rx * 1.06, cy - ry * 0.2, cx - rx * 0.9, cy + ry * 0.25], fill=shade)  # ears
    d.ellipse([cx + rx * 0.9, cy - ry * 0.2, cx + rx * 1.06, cy + ry * 0.25], fill=shade)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)  # face
    fringe = rng.uniform(0.45, 0.75)
    d.chord([cx - rx * 1.02, cy - ry * 1.08, cx + rx * 1.02, cy - ry * (1 - 2 * fringe) * 0.6],
            180, 360, fill=hair)  # fringe

    eye_y = cy - ry * rng.uniform(0.02, 0.14)
    eye_dx = rx * rng.uniform(0.36, 0.46)
    eye_r = rx * rng.uniform(0.11, 0.16)
    iris = _jitter(rng, IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], 10)
    gaze = rng.uniform(-0.3, 0.3) * eye_r
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse([ex - eye_r * 1.4, eye_y - eye_r * 0.8, ex + eye_r * 1.4, eye_y + eye_r * 0.8],
                  fill=(245, 245, 240))
        d.ellipse([ex + gaze - eye_r * 0.7, eye_y - eye_r * 0.7, ex + gaze + eye_r * 0.7,
                   eye_y + eye_r * 0.7], fill=iris)
        d.ellipse([ex + gaze - eye_r * 0.3, eye_y - eye_r * 0.3, ex + gaze + eye_r * 0.3,
                   eye_y + eye_r * 0.3], fill=(10, 10, 10))
        brow_y = eye_y - eye_r * rng.uniform(1.6, 2.2)
        tilt = side * rng.uniform(-0.5, 0.8) * eye_r
        d.line([ex - eye_r * 1.5, brow_y + tilt, ex + eye_r * 1.5, brow_y - tilt],
               fill=tuple(int(c * 0.7) for c in hair), width=max(1, int(s * 0.025)))

    nose_y = cy + ry * rng.uniform(0.18, 0.3)
    d.polygon([(cx, eye_y + eye_r), (cx - rx * 0.1, nose_y), (cx + rx * 0.1, nose_y)], fill=shade)
    mouth_y = cy + ry * rng.uniform(0.45, 0.6)
    mouth_w = rx * rng.uniform(0.3, 0.5)
    smile = rng.uniform(-0.1, 0.35) * ry
    lips = _jitter(rng, (170, 70, 70), 25)
    if smile > 0.08 * ry:  # open smile
        d.chord([cx - mouth_w, mouth_y - smile * 0.6, cx + mouth_w, mouth_y + smile], 0, 180,
                fill=lips)
    else:
        d.line([cx - mouth_w, mouth_y, cx, mouth_y + smile, cx + mouth_w, mouth_y], fill=lips,
               width=max(1, int(s * 0.03)))
    angle = rng.uniform(-12, 12)
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, center=(cx, cy),
                         fillcolor=top)
    return image.filter(ImageFilter.GaussianBlur(s / 256))


def synthetic_faces(n, resolution=64, seed=0):
    """(n, resolution, resolution, 3) uint8 faces; face i is the same for any n."""
    faces = np.empty((n, resolution, resolution, 3), np.uint8)
    for i in range(n):
        image = draw_face(np.random.default_rng([seed, i]), size=2 * resolution)
        faces[i] = np.asarray(image.resize((resolution, resolution), Image.Resampling.LANCZOS))
    return faces
