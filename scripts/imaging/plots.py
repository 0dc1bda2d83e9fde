"""The pictures of a run (matplotlib, without a display)."""


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
        shown = ax.imshow(data, origin="lower", cmap=cmap,
                          **({"vmin": limits[0], "vmax": limits[1]} if limits else {}))
        fig.colorbar(shown, ax=ax, fraction=0.046)
        if pb[0] is not None:
            ax.contour(pb[0], levels=[pb[1]], colors="cyan", linewidths=0.8)
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


def add_beam(ax, beam):
    """The restoring beam, filled, in the lower-left corner (position angle east of
    north; east is to the left as CASA's viewer shows the image)."""
    from matplotlib.patches import Ellipse
    major, minor, pa = beam
    corner = max(major, 4)
    ax.add_patch(Ellipse((corner, corner), width=minor, height=major, angle=pa,
                         facecolor="white", edgecolor="black"))
