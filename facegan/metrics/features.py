"""The base of a feature family: what one pass over an image set gives its metrics."""


class Features:
    """A kind of features (face detections, pixels, Inception features), set up once per
    Evaluator. `start`, then `update` with each uint8 batch, then `result` measure one image
    set; every metric of the family scores a generated result against the real one. One pass
    over generated samples feeds every family, so samples are made once per score.
    """

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def measure(self, batches):
        state = self.start()
        for batch in batches:
            self.update(state, batch)
        return self.result(state)

    def real(self, batches):
        """The real side, measured once per Evaluator from `batches()` (a fresh iterator of
        the real images each call); a family whose features are costly caches it."""
        return self.measure(batches())
