"""CASA's SEVERE lines of a job, said where a user sees them.

At the end of every stage script (dagutils.run_stage) the SEVERE messages of the
job's own CASA log are written to its stderr (logs/<node>.err, which HTCondor
returns with or without a shared filesystem), one line per distinct message:

    casa SEVERE (known, harmless: <why>): <message>
    casa SEVERE: <message>                       (any other)

make status reads the SEVERE lines CASA itself writes to every job's stderr and
shows those not known to be harmless (`unknown`) with the node.  A message is its
SEVERE line with the continuation lines CASA marks with '+'.
"""
import re
import sys

PREFIX = "casa SEVERE"
# Messages known to be harmless here: (pattern, why).
HARMLESS = [
    (re.compile(r"Leap second table TAI_UTC seems out-of-date"),
     "the offline measures data's leap-second table is older than its last entry's "
     "validity; no leap second has been added since 2016, so UTC-derived times are right"),
    (re.compile(r"CFCache\d*::loadWtImage: Sum-of-weights not found"),
     "an awproject gridding job's CF cache looks for the sum-of-weights image the job "
     "has not written yet and uses the weight image it loads next; its images equal "
     "tclean's (tests/test_first_cycle.py)"),
]


def severe_messages(text):
    """The distinct SEVERE messages of a CASA log's text, in order: 'origin: message'."""
    messages, current = [], None
    for line in text.splitlines():
        fields = line.split("\t", 3)
        if len(fields) < 4 or fields[1] != "SEVERE":
            current = None
            continue
        origin, message = fields[2], fields[3]
        if origin.endswith("+") and current is not None:
            messages[-1] += " " + message.strip()
        else:
            messages.append(f"{origin.split(' (file ')[0]}: {message.strip()}")
        current = origin
    return list(dict.fromkeys(messages))


def why_harmless(message):
    return next((why for pattern, why in HARMLESS if pattern.search(message)), None)


def report_lines(text):
    lines = []
    for message in severe_messages(text):
        why = why_harmless(message)
        lines.append(f"{PREFIX} (known, harmless: {why}): {message}" if why
                     else f"{PREFIX}: {message}")
    return lines


def report(stream=sys.stderr):
    """Write the SEVERE messages of this process's CASA log (if CASA was used) to stderr."""
    if "casatools" not in sys.modules:
        return
    from imaging import casaenv
    try:
        with open(casaenv.casalog_file(), errors="replace") as f:
            text = f.read()
    except OSError:
        return
    for line in report_lines(text):
        print(line, file=stream)


def unknown(text):
    """The SEVERE messages of a CASA log's text not known to be harmless.  (CASA also
    writes its WARN and SEVERE lines to the job's stderr, from the job's start: a
    message logged before the job's log file was set up is found there too.)"""
    return [m for m in severe_messages(text) if not why_harmless(m)]
