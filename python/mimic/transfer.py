"""mimic.transfer: transfer sets made from a set of images, for mimic.label.

    ti = mimic.transfer.images(x_train, 200_000, seed=1, flip=0.5, shift=2, rotate=10,
                               scale=0.1, mixup=0.2)
    mimic.label(teacher, ti, "out/set")

images() returns a TransferImages: augmented copies of the images, generated a batch at a
time and never all stored. Row i depends only on (seed, i, the parameters, x): its random
draws come from the block of BLOCK rows it lies in, whose generator is seeded by (seed,
block) (np.random.SeedSequence(seed, spawn_key=(0, block)), PCG64), so the same seed gives
the same rows however they are read (iterated in batches of any size, sliced, resumed).
"""

import numbers

import numpy as np

__all__ = ["images", "TransferImages"]

#: Rows per random stream. Fixed: changing it would change the rows a seed gives.
BLOCK = 1024
INTERPOLATIONS = ("bilinear", "nearest")


def _generator(seed, *key):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _check(name, value, ok, need):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
        raise ValueError("%s: must be %s, not %r" % (name, need, value))
    return value


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError("%s: must be an int >= %d, not %r" % (name, low, value))
    return int(value)


class TransferImages:
    """Augmented copies of an image set, `n_rows` of them, generated on demand; what
    mimic.transfer.images returns (see there for the parameters).

    It reads like an array of shape (n_rows,) + x.shape[1:] and `dtype` (len(), .shape,
    .dtype, t[i], t[a:b], t[index_array]) and iterates as batches of `batch_size` rows (the
    last smaller): batch k is rows [k * batch_size, (k + 1) * batch_size). mimic.label takes
    it as inputs, with its row count known (an ETA) and resumable without generating the
    rows of complete shards. Row i is a function of (seed, i, the parameters, x): x must
    not change while the object is used."""

    def __init__(self, x, n_rows, seed, batch_size, flip, shift, rotate, scale, mixup,
                 mixup_alpha, image_shape, interpolation, dtype):
        self.x = x
        self.n_rows = n_rows
        self.seed = seed
        self.batch_size = batch_size
        self.flip, self.shift, self.rotate, self.scale = flip, shift, rotate, scale
        self.mixup, self.mixup_alpha = mixup, mixup_alpha
        self.interpolation = interpolation
        self.dtype = dtype
        self.shape = (n_rows,) + tuple(x.shape[1:])
        self.image_shape = image_shape  # (C, H, W)
        self._perms = {}
        self._blocks = {}

    # ---- array-like -------------------------------------------------------------------

    @property
    def ndim(self):
        return len(self.shape)

    def __len__(self):
        return self.n_rows

    @property
    def n_batches(self):
        return -(-self.n_rows // self.batch_size)

    def batch(self, k):
        """Batch k: rows [k * batch_size, min((k + 1) * batch_size, n_rows))."""
        if not 0 <= k < self.n_batches:
            raise IndexError("batch %d of %d" % (k, self.n_batches))
        a = k * self.batch_size
        return self._rows(np.arange(a, min(a + self.batch_size, self.n_rows)))

    def __iter__(self):
        for k in range(self.n_batches):
            yield self.batch(k)

    def _index(self, key):
        if isinstance(key, slice):
            return np.arange(*key.indices(self.n_rows))
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not -self.n_rows <= key < self.n_rows:
                raise IndexError("row %d of %d" % (key, self.n_rows))
            return np.array([key % self.n_rows])
        idx = np.asarray(key)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise TypeError("TransferImages indices are ints, slices or 1-D int arrays, not %r"
                            % (key,))
        if idx.size and (idx.min() < -self.n_rows or idx.max() >= self.n_rows):
            raise IndexError("an index outside the %d rows" % self.n_rows)
        return idx % self.n_rows

    def __getitem__(self, key):
        rows = self._rows(self._index(key))
        return rows[0] if isinstance(key, numbers.Integral) else rows

    def __repr__(self):
        return ("TransferImages(rows=%d, shape=%s, dtype=%s, seed=%d, flip=%g, shift=%d, "
                "rotate=%g, scale=%g, mixup=%g)"
                % (self.n_rows, self.shape, self.dtype, self.seed, self.flip, self.shift,
                   self.rotate, self.scale, self.mixup))

    # ---- the draws --------------------------------------------------------------------

    def _perm(self, cycle):
        """The order of the images in rows [cycle * N, (cycle + 1) * N)."""
        if cycle not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(next(iter(self._perms)))
            self._perms[cycle] = _generator(self.seed, 1, cycle).permutation(len(self.x))
        return self._perms[cycle]

    def _block(self, block):
        """The draws of rows [block * BLOCK, (block + 1) * BLOCK), in a fixed order, each
        augmentation's independent of the others' settings."""
        if block not in self._blocks:
            if len(self._blocks) >= 2:
                self._blocks.pop(next(iter(self._blocks)))
            g = _generator(self.seed, 0, block)
            d = {"flip": g.random(BLOCK) < self.flip,
                 "dx": g.integers(-self.shift, self.shift + 1, BLOCK),
                 "dy": g.integers(-self.shift, self.shift + 1, BLOCK),
                 "angle": g.uniform(-self.rotate, self.rotate, BLOCK),
                 "scale": g.uniform(1.0 - self.scale, 1.0 + self.scale, BLOCK),
                 "mixup": g.random(BLOCK) < self.mixup,
                 "partner": g.integers(0, len(self.x), BLOCK),
                 "lam": g.beta(self.mixup_alpha, self.mixup_alpha, BLOCK)}
            self._blocks[block] = d
        return self._blocks[block]

    def draws(self, start=0, stop=None):
        """What rows [start, stop) are made of, as a dict of arrays: source (the index of
        the image in x), flip (mirrored left-right), dx, dy (shift in pixels: right, down),
        angle (degrees, counter-clockwise), scale, mixup (blended), partner (the other
        image) and lam (the weight of the source in a blend). Rows [c * N, (c + 1) * N) use
        every image of x once, in an order drawn for cycle c."""
        return self._draws(np.arange(*slice(start, stop).indices(self.n_rows)))

    def _draws(self, idx):
        n = len(self.x)
        out = {"source": np.empty(len(idx), np.int64)}
        for c in np.unique(idx // n):
            sel = idx // n == c
            out["source"][sel] = self._perm(int(c))[idx[sel] % n]
        out.update((name, np.empty(len(idx), values.dtype))
                   for name, values in self._block(0).items())
        blocks = idx // BLOCK
        for b in np.unique(blocks):
            sel = blocks == b
            for name, values in self._block(int(b)).items():
                out[name][sel] = values[idx[sel] % BLOCK]
        return out

    # ---- the images -------------------------------------------------------------------

    def _rows(self, idx):
        d = self._draws(idx)
        c, h, w = self.image_shape
        img = np.asarray(self.x[d["source"]], dtype=np.float32).reshape(len(idx), c, h, w)
        if self.mixup > 0 and d["mixup"].any():
            m = d["mixup"]
            lam = d["lam"][m].astype(np.float32)[:, None, None, None]
            other = np.asarray(self.x[d["partner"][m]], dtype=np.float32).reshape(-1, c, h, w)
            img[m] = lam * img[m] + (1 - lam) * other
        if self.flip > 0 or self.shift > 0 or self.rotate > 0 or self.scale > 0:
            img = self._warp(img, d)
        if self.dtype == np.uint8:
            img = np.clip(np.rint(img), 0, 255)
        return img.astype(self.dtype).reshape((len(idx),) + self.shape[1:])

    def _warp(self, img, d):
        """Each image resampled at the inverse of: mirror, scale and rotate about the
        centre, shift; zero outside (a zero border, so coordinates outside clip onto it)."""
        n, c, h, w = img.shape
        f32 = np.float32
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        theta = np.deg2rad(d["angle"])
        cos = (np.cos(theta) / d["scale"]).astype(f32)[:, None, None]
        sin = (np.sin(theta) / d["scale"]).astype(f32)[:, None, None]
        mirror = np.where(d["flip"], -1, 1).astype(f32)[:, None, None]
        # output pixel -> centred, unshifted (n x 1 x w and n x h x 1, broadcast to n x h x w)
        dx, dy = d["dx"].astype(f32)[:, None, None], d["dy"].astype(f32)[:, None, None]
        u = (np.arange(w, dtype=f32) - f32(cx))[None, None, :] - dx
        v = (np.arange(h, dtype=f32) - f32(cy))[None, :, None] - dy
        # rotated back (rows grow downwards) and unscaled, mirrored; +1 for the border
        col = mirror * (cos * u - sin * v) + f32(cx + 1)
        row = (sin * u + cos * v) + f32(cy + 1)
        padded = np.zeros((n, c, h + 2, w + 2), f32)
        padded[:, :, 1:-1, 1:-1] = img
        flat = padded.reshape(n, c, (h + 2) * (w + 2))
        if self.interpolation == "nearest":
            taps = [(np.floor(row + f32(0.5)), np.floor(col + f32(0.5)), None)]
        else:
            r0, c0 = np.floor(row), np.floor(col)
            fr, fc = row - r0, col - c0
            taps = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                    (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
        out = np.zeros((n, c, h * w), f32)
        for rr, cc, weight in taps:
            at = (np.clip(rr, 0, h + 1).astype(np.intp) * (w + 2) +
                  np.clip(cc, 0, w + 1).astype(np.intp)).reshape(n, 1, h * w)
            values = np.take_along_axis(flat, at, axis=2)
            out += values if weight is None else weight.reshape(n, 1, h * w) * values
        return out.reshape(n, c, h, w)


def images(x, n_rows, seed=0, batch_size=1024, flip=0.0, shift=0, rotate=0.0, scale=0.0,
           mixup=0.0, mixup_alpha=0.4, image_shape=None, interpolation="bilinear", dtype=None):
    """`n_rows` augmented copies of the images `x` as a TransferImages (an array-like
    iterable of batches for mimic.label; nothing is stored).

    x: N x H x W, N x C x H x W (channels first), or N x D with image_shape (H, W) or
      (C, H, W) (C*H*W == D); any real dtype. Not copied: it must not change while used.
    n_rows: how many rows. Rows [c * N, (c + 1) * N) are an augmented copy of every image of
      x once, in a random order drawn for cycle c.
    seed: an int >= 0; row i depends only on (seed, i, the parameters, x).
    batch_size: rows per batch when iterated (does not change the rows).
    flip: the probability of a left-right mirror image.
    shift: the largest shift in pixels, each of right/left and down/up drawn in
      [-shift, shift] (zero fill).
    rotate: the largest rotation in degrees, drawn in [-rotate, rotate], about the centre.
    scale: the largest relative zoom, drawn in [1 - scale, 1 + scale], about the centre.
    mixup: the probability of blending the image with another image of x drawn at random:
      lam * image + (1 - lam) * other, lam ~ Beta(mixup_alpha, mixup_alpha) (before the
      geometric augmentations); inputs the teacher never saw, between its classes.
    interpolation: "bilinear" (default) or "nearest", for rotate and scale (flip and shift
      alone move whole pixels and are exact either way).
    dtype: None: uint8 images give uint8 rows (rotated, scaled and blended values rounded
      to the nearest integer and clipped to 0..255, as a camera would store them: a quarter
      of the bytes of float32, and what the teacher labels is what is stored), float32
      images float32, other dtypes float32; "float32": float32 rows for any x (interpolated
      values kept as they are).

    Raises ValueError (a parameter out of range, naming it; shapes) and TypeError (x's
    dtype)."""
    a = x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)
    if np.dtype(a.dtype).kind not in "fiu":
        raise TypeError("x: dtype %s is not a real number type" % a.dtype)
    shape = tuple(a.shape)
    if len(shape) == 2:
        if image_shape is None:
            raise ValueError("x: N x D rows need image_shape=(H, W) or (C, H, W)")
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) == 2:
            image_shape = (1,) + image_shape
        if len(image_shape) != 3 or min(image_shape) < 1 or \
                int(np.prod(image_shape)) != shape[1]:
            raise ValueError("image_shape %s does not make rows of %d values"
                             % (image_shape, shape[1]))
    elif len(shape) in (3, 4):
        image_shape_x = (1,) + shape[1:] if len(shape) == 3 else shape[1:]
        if image_shape is not None and tuple(image_shape) not in (image_shape_x,
                                                                 image_shape_x[1:]):
            raise ValueError("image_shape %s, but x holds images of %s"
                             % (tuple(image_shape), image_shape_x))
        image_shape = image_shape_x
    else:
        raise ValueError("x: shape %s; need N x H x W, N x C x H x W or N x D with image_shape"
                         % (shape,))
    if shape[0] == 0 or min(image_shape) == 0:
        raise ValueError("x: no images (shape %s)" % (shape,))
    n_rows = _int("n_rows", n_rows, 1)
    seed = _int("seed", seed, 0)
    batch_size = _int("batch_size", batch_size, 1)
    shift = _int("shift", shift, 0)
    flip = float(_check("flip", flip, lambda v: 0 <= v <= 1, "in [0, 1]"))
    rotate = float(_check("rotate", rotate, lambda v: 0 <= v <= 180, "in [0, 180] degrees"))
    scale = float(_check("scale", scale, lambda v: 0 <= v < 1, "in [0, 1)"))
    mixup = float(_check("mixup", mixup, lambda v: 0 <= v <= 1, "in [0, 1]"))
    mixup_alpha = float(_check("mixup_alpha", mixup_alpha, lambda v: v > 0, "> 0"))
    if interpolation not in INTERPOLATIONS:
        raise ValueError("interpolation: %s, not %r" % (" or ".join(INTERPOLATIONS),
                                                        interpolation))
    if dtype is not None and np.dtype(dtype) != np.float32:
        raise ValueError("dtype: None (uint8 stays uint8) or \"float32\", not %r" % (dtype,))
    out = np.dtype(np.uint8) if dtype is None and a.dtype == np.uint8 else np.dtype(np.float32)
    return TransferImages(a, n_rows, seed, batch_size, flip, shift, rotate, scale, mixup,
                          mixup_alpha, image_shape, interpolation, out)
