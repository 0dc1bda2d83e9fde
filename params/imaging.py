# Imaging parameters of this run: the one file to edit.
#
# Plain assignments with tclean's own parameter names (see CASA's tclean
# documentation); anything not set here takes tclean's default.  The file is
# read, never executed: each line is `name = literal`, and a later assignment
# of the same name wins, so a test run may simply append overrides.
# Relative paths are relative to this run directory (the directory holding
# the Makefile and dag/).

# ---- data selection
vis = 'data/sim_evla.ms'
datacolumn = 'data'
field = ''
spw = ''

# ---- image definition
imagename = 'ctb80'
imsize = [256, 256]
cell = '6arcsec'
phasecenter = ''
stokes = 'I'
specmode = 'mfs'
reffreq = '3.0GHz'

# ---- gridding: wide-band AW-projection
gridder = 'awproject'
wprojplanes = 1
aterm = True
psterm = False
wbawp = True
conjbeams = True
cfcache = 'cfcache/ctb80.cf'
computepastep = 360.0
rotatepastep = 360.0
pblimit = 0.2
normtype = 'flatnoise'

# ---- deconvolution
deconvolver = 'mtmfs'
nterms = 2
scales = [0]
weighting = 'natural'
robust = 0.5

# ---- iteration control
niter = 1000
gain = 0.1
threshold = "0.01Jy"
nsigma = 0.0
cycleniter = 100
cyclefactor = 1.0
minpsffraction = 0.05
maxpsffraction = 0.8
nmajor = -1
usemask = 'user'
mask = ''
pbcor = True

# ---- the decomposition's own parameters
# Largest size of one sub-MS (what one gridding job reads and, without a shared
# filesystem, is sent).  The MS is split into the fewest sub-MSes of at most this
# size, and at least gridjobs of them: a small MS makes one per core (make run) or
# slot, each paying a job's fixed costs once per cycle; an MS of hundreds of GB makes
# hundreds of GB / maxsubmssize.  Smaller sub-MSes than that only add jobs.
maxsubmssize = '2GB'
# How the MS is split: 'time' (ranges of whole integrations), 'spw' (groups of whole
# spectral windows: with awproject each job reads only its windows' CFs) or 'both'
# (spectral-window groups, each split along time where larger than maxsubmssize).
partitionby = 'time'
# Gridding jobs that run at once: the number of sub-MSes maxsubmssize calls for is
# rounded up to a multiple of it, so that no slot idles in a wave of gridding jobs
# (3 sub-MSes on 2 cores run as 2 + 1 jobs; 4 as 2 + 2 shorter ones).  0: one per core
# of the machine that prepares the run (make run).  For make submit, give the slots
# the run's gridding jobs get at once on the pool, or 1 to let maxsubmssize alone decide.
gridjobs = 0
# HTCondor requests per job kind. By default scripts/imaging/resources.py computes
# request_memory and request_disk from the MS and image sizes; set any here to
# override it, e.g. {'allImagers': {'request_memory': '8GB'}}.
jobresources = {}
# True: the pool's execute nodes see this run directory (a shared filesystem,
# as Lustre).  False: they see nothing of it; jobs are sent their sub-MS, the CF
# cache and the images they read as tars by HTCondor's file transfer, and run
# in their scratch directory (scripts/imaging/transfer.py).  Set IMAGING_PYTHON to the
# execute nodes' Python with casatools: make submit IMAGING_PYTHON=/path/python
sharedfs = True
# True: the final images a user keeps are also written as FITS files beside them
# (products/final/*.fits, by CASA's exportfits).
exportfits = True
