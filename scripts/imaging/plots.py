"""The pictures of a run (matplotlib, without a display)."""
import numpy as np

# Pixels per side an image panel of the sheet draws at most: a panel is about 400 pixels
# wide on the PNG; drawing a 2048^2 image in full took 8.8 s and 1.1 GB at restore.
SHOWN = 512


def plot_peak_residuals(records, path, threshold=None, title=""):
    """PNG of the peak residual before each minor cycle against major cycle."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    peak_residuals_axes(ax, records, threshold)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def peak_residuals_axes(ax, records, threshold=None):
    """The peak residual before each minor cycle against major cycle, on `ax`."""
    points = [(r["cycle"], r["peakresidual"]) for r in records if r["peakresidual"]]
    ax.semilogy([c for c, _ in points], [p for _, p in points], "o-", label="peak residual")
    if threshold:
        ax.axhline(threshold, color="grey", linestyle="--", label="threshold")
    ax.set_xlabel("major cycle")
    ax.set_ylabel("peak residual (Jy/beam)")
    ax.set_xticks([c for c, _ in points])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def sheet(panels, pb, beam, peaks, path, title):
    """A PNG sheet: image panels (title, [y, x] pixels, colour map, limits or None), each
    with the pb contour (pb: (pixels, level)) and the beam (major, minor in pixels,
    position angle), then the peak residuals (peaks: records, threshold)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(15, 9.5), dpi=80)
    for ax, (name, data, cmap, limits) in zip(axes.flat, panels):
        pixels, extent = reduced(data)
        drawn = ax.imshow(pixels, origin="lower", cmap=cmap, extent=extent,
                          **({"vmin": limits[0], "vmax": limits[1]} if limits else {}))
        fig.colorbar(drawn, ax=ax, fraction=0.046)
        if pb[0] is not None:
            pbpixels, extent = reduced(pb[0])
            ax.contour(pbpixels, levels=[pb[1]], colors="cyan", linewidths=0.8,
                       origin="lower", extent=extent)
        if beam:
            add_beam(ax, beam)
        ax.set_title(name)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    peak_residuals_axes(axes.flat[len(panels)], *peaks)
    for ax in list(axes.flat)[len(panels) + 1:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reduced(data, most=SHOWN):
    """An image as a panel draws it: blocks of f x f pixels, f the least factor that
    leaves at most `most` per side, each drawn as its pixel of largest magnitude (so a
    point source's peak and a negative residual survive; NaN where the whole block is
    NaN); and the extent in the image's own pixels, so that axes, contour and beam stay
    in them."""
    ny, nx = data.shape
    f = max(1, -(-max(ny, nx) // most))
    if f == 1:
        return data, (-0.5, nx - 0.5, -0.5, ny - 0.5)
    py, px = -ny % f, -nx % f
    padded = np.pad(np.asarray(data, dtype=float), ((0, py), (0, px)), constant_values=np.nan)
    by, bx = (ny + py) // f, (nx + px) // f
    blocks = padded.reshape(by, f, bx, f).transpose(0, 2, 1, 3).reshape(by, bx, f * f)
    largest = np.nan_to_num(np.abs(blocks), nan=-1.0).argmax(axis=2)
    return (np.take_along_axis(blocks, largest[..., None], axis=2)[..., 0],
            (-0.5, nx + px - 0.5, -0.5, ny + py - 0.5))


def add_beam(ax, beam):
    """The restoring beam, filled, in the lower-left corner (position angle east of
    north; east is to the left as CASA's viewer shows the image)."""
    from matplotlib.patches import Ellipse
    major, minor, pa = beam
    corner = max(major, 4)
    ax.add_patch(Ellipse((corner, corner), width=minor, height=major, angle=pa,
                         facecolor="white", edgecolor="black"))
