"""A fidelity judge independent of the model: does an image show a given emoji?

Judge(images, labels) holds a reference set (uint8 RGB [N, H, W, 3] composited on white, one label per image:
the base emoji, so skin tones and styles count as the same emoji). An image is reduced to a feature vector
(`features`: box-averaged down to FEATURE_GRID x FEATURE_GRID RGB in [0, 1], a fixed blur that ignores the
pixel-level detail the dVAE cannot keep) and compared by RMS distance (`distances`, units of [0, 1] intensity).
`judge.shows(image, label)` is True when the nearest reference image of `label` is within TIE of the nearest
reference image of any label (identical images shared by several emoji, such as some flags, count for all)
and within MAX_DIST (an image that resembles no emoji shows none). Nothing in it is learned, and it never
sees the model: only the data set's images. Its accuracy on real and degraded images is measured by
tools/eval_fidelity.py --validate (assets/MODEL_CARD.md states it).
"""
import numpy as np

FEATURE_GRID = 16  # 64x64 -> 16x16: 4x4 box average
# MAX_DIST: RMS distance ([0, 1] units) above which an image shows nothing: loose, as real images moved
# by 2 px are 0.13 from themselves (median); eval_fidelity.py validates it
MAX_DIST = 0.2
TIE = 0.005        # labels whose nearest image is this close to the overall nearest count as shown


def features(images, grid=FEATURE_GRID):
    """uint8 [N, H, W, 3] (or one [H, W, 3]) -> float32 [N, grid * grid * 3] in [0, 1]; H and W must be
    multiples of grid (ValueError otherwise)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[3] != 3:
        raise ValueError("judge: images must be [N, H, W, 3] RGB, got shape %s" % (x.shape,))
    n, h, w, _ = x.shape
    if h % grid or w % grid:
        raise ValueError("judge: image size %dx%d is not a multiple of the feature grid %d" % (w, h, grid))
    x = x.astype(np.float32) / 255.0
    x = x.reshape(n, grid, h // grid, grid, w // grid, 3).mean(axis=(2, 4))
    return x.reshape(n, -1)


class Judge:
    """Nearest-image judge over a labelled reference set (see the module doc)."""

    def __init__(self, images, labels, max_dist=MAX_DIST, tie=TIE):
        self.feats = features(images)
        self.labels = np.asarray(labels)
        if len(self.labels) != len(self.feats):
            raise ValueError("judge: %d images but %d labels" % (len(self.feats), len(self.labels)))
        self.max_dist, self.tie = max_dist, tie
        self._sq = (self.feats ** 2).sum(1)

    def distances(self, images, exclude=None):
        """RMS distance float32 [M, N] of each image to each reference image; reference images where the
        bool mask `exclude` [N] is True get +inf."""
        f = features(images)
        d2 = (f ** 2).sum(1)[:, None] + self._sq[None, :] - 2.0 * f @ self.feats.T
        d = np.sqrt(np.maximum(d2, 0.0) / f.shape[1])
        if exclude is not None:
            d[:, np.asarray(exclude, dtype=bool)] = np.inf
        return d

    def label_distances(self, images, exclude=None):
        """(labels [L] sorted, float32 [M, L]: each image's distance to the nearest reference image of each label)."""
        d = self.distances(images, exclude)
        names, inv = np.unique(self.labels, return_inverse=True)
        out = np.full((d.shape[0], len(names)), np.inf, dtype=np.float32)
        for j in range(len(names)):
            out[:, j] = d[:, inv == j].min(axis=1)
        return names, out

    def verdicts(self, images, targets, exclude=None):
        """bool [M]: image i shows label targets[i]; also returns the nearest label and its distance per image."""
        d = self.distances(images, exclude)
        best = d.argmin(axis=1)
        best_d = d[np.arange(len(d)), best]
        ok = np.zeros(len(d), dtype=bool)
        for i, t in enumerate(targets):
            mask = self.labels == t
            if not mask.any():
                raise ValueError("judge: label %r has no reference image" % (t,))
            dt = d[i, mask].min()
            ok[i] = dt <= best_d[i] + self.tie and dt <= self.max_dist
        return ok, self.labels[best], best_d

    def shows(self, image, target):
        """True when the uint8 [H, W, 3] image shows label `target` (see the module doc)."""
        return bool(self.verdicts(image[None], [target])[0][0])
