"""The pictures of a run (matplotlib, without a display)."""


def plot_peak_residuals(records, path, threshold=None, title=""):
    """PNG of the peak residual before each minor cycle against major cycle."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    points = [(r["cycle"], r["peakresidual"]) for r in records if r["peakresidual"]]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.semilogy([c for c, _ in points], [p for _, p in points], "o-", label="peak residual")
    if threshold:
        ax.axhline(threshold, color="grey", linestyle="--", label="threshold")
    ax.set_xlabel("major cycle")
    ax.set_ylabel("peak residual (Jy/beam)")
    ax.set_xticks([c for c, _ in points])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
