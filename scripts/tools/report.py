"""products/final/report.html: one page for a finished run, to open in a browser.

    python -m tools.report [RUNDIR]       (the end of `make run`; `make report` after
                                           `make submit`)

Holds the quick-look sheet and the peak residual plot of products/final (restore.py
draws them), and the run: major cycles, iterations and why it stopped, the guards'
warnings and CASA's SEVERE messages not known to be harmless, the parameters that
differ from tclean's (and the decomposition's) defaults, per job kind the jobs, their
summed and longest wall time and the largest job's peak memory (from the job log,
logs/imaging.log, read with HTCondor's reader), the cycles, and the FITS files.  Runs
on the access point, where the job log is; writes nothing else.
"""
import html
import os
import sys

from imaging import parameters, products
from tools import progress

REPORT = "report.html"


def main(rundir="."):
    os.chdir(rundir)
    summary = products.read_json(progress.summary_path())
    if summary is None:
        sys.exit(f"report: {progress.summary_path()} does not exist: the run has not finished "
                 "(make status says where it stands)")
    params = products.read_json(products.PARAMS_RECORD) or {}
    final = os.path.dirname(progress.summary_path())
    page = page_html(params, summary, progress.jobs(), progress.severe(), final)
    products.write_text_atomic(os.path.join(final, REPORT), page)
    print(f"report: {os.path.join(final, REPORT)}")


def page_html(params, summary, jobs, severe, final):
    name = html.escape(str(params.get("imagename", "")))
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{name}</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
             "text-align:left}table{border-collapse:collapse}tr:nth-child(even){background:#eee}"
             "</style></head><body>", f"<h1>{name}</h1>",
             paragraph(run_line(summary)), notes(summary.get("warnings", []), severe),
             "<img src='quicklook.png' alt='quick look' style='max-width:100%'>",
             "<h2>Parameters that differ from the defaults</h2>",
             table(["parameter", "value", "default"], differences(params)),
             "<h2>Jobs</h2>", table(["kind", "jobs", "wall time, summed (s)",
                                     "longest job (s)", "largest peak memory (MB)"],
                                    job_rows(jobs)),
             "<h2>Major cycles</h2>", "<img src='peak_residual.png' alt='peak residual'>",
             table(["cycle", "peak residual before its minor cycle (Jy/beam)", "iterations done"],
                   [[c["cycle"], c["peakresidual"], c["iterdone"]] for c in summary["cycles"]]),
             "<h2>Files</h2>", files(final), "</body></html>"]
    return "\n".join(parts) + "\n"


def run_line(s):
    return (f"{s['majorcycles']} major cycles after the first, {s['iterdone']} minor-cycle "
            f"iterations; stopped: {s['stopreason']} (tclean stop code {s['stopcode']})")


def notes(warnings, severe):
    lines = [f"warning: {w}" for w in warnings]
    lines += [f"CASA SEVERE in {', '.join(nodes)}: {m}" for m, nodes in severe.items()]
    if not lines:
        return paragraph("No warning: the guards found nothing wrong, and CASA logged no "
                         "SEVERE message not known to be harmless.")
    return "<ul>" + "".join(f"<li><b>{html.escape(line)}</b></li>" for line in lines) + "</ul>"


def differences(params):
    defaults = parameters.defaults()
    return [[k, repr(params[k]), repr(defaults[k])] for k in sorted(defaults)
            if k in params and params[k] != defaults[k]]


def job_rows(jobs):
    """Per kind of node (its name up to the first '_'): jobs, wall times, peak memory."""
    kinds = {}
    for node, job in jobs.items():
        if "started" in job and "rc" in job:
            kinds.setdefault(node.split("_")[0], []).append(job)
    rows = []
    for kind, done in sorted(kinds.items()):
        walls = [j["time"] - j["started"] for j in done]
        memory = max((j.get("memory") or 0 for j in done), default=0)
        rows.append([kind, len(done), f"{sum(walls):.1f}", f"{max(walls):.1f}", memory or "-"])
    return rows


def files(final):
    names = sorted(n for n in os.listdir(final) if n.endswith(".fits"))
    if not names:
        return paragraph("No FITS files (exportfits = False).")
    return "<ul>" + "".join(f"<li><a href='{html.escape(n)}'>{html.escape(n)}</a></li>"
                            for n in names) + "</ul>"


def paragraph(text):
    return f"<p>{html.escape(text)}</p>"


def table(header, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


if __name__ == "__main__":
    main(*sys.argv[1:])
