"""The scaling model's arithmetic, against numbers worked out by hand."""
import pytest

from tools import scalemodel

pytestmark = pytest.mark.fast


def test_fit_recovers_a_line():
    assert scalemodel.fit([(0, 1), (1, 3), (2, 5)]) == pytest.approx((1, 2))
    assert scalemodel.fit([(4, 7), (4, 9)]) == pytest.approx((8, 0))   # one x: the mean


def test_wall_of_a_run_by_hand():
    """4 sub-MSes on 2 slots: 2 waves per gridding level.  Costs: start 50 s; per job 2 s
    outside CASA; cycle-0 gridding 10 s + 1e-3 s per row, later cycles 4 s + 5e-4 s per
    row, 40000 rows (10000 per job); add 1 + 0.5 per sub-MS; deconvolve 3; restore 5;
    two cycles after the first.
      cycle 0 gridding: 2 x (2 + 10 + 10) = 44; later: 2 x (2 + 4 + 5) = 22
      add: 2 + 1 + 2 = 5; deconvolve: 2 + 3 = 5; restore: 2 + 5 = 7
      total: 50 + (44 + 5 + 5) + 2 x (22 + 5 + 5) + 7 = 175"""
    costs = {"o": 2.0, "grid0": (10.0, 1e-3), "grid": (4.0, 5e-4), "add": (1.0, 0.5),
             "deconvolve": 3.0, "restore": 5.0, "start": 50.0, "cycles": 2, "rows": 40000}
    assert scalemodel.wall(costs, 4, slots=2) == pytest.approx(175)
    # latency once per DAG level after the start: 3 per cycle (3 cycles) and restore: 10
    assert scalemodel.wall(costs, 4, slots=2, latency=10) == pytest.approx(175 + 10 * 10)


def test_gather_of_many_sub_mses_by_hand():
    """add = 1 s + 0.5 s per sub-image, 2 s per job outside CASA, latency 10 s.
    8 sub-MSes: one addImages: 2 + 1 + 8 x 0.5 + 10 = 17.
    100 sub-MSes: 10 groups of 10 (products.gather_groups); on 4 slots 3 waves of addParts
    jobs, each 2 + 10 x 0.5 = 7: 21, + 10 latency; then addImages over the 10 sums:
    2 + 1 + 10 x 0.5 + 10 = 18; in all 49 (one addImages over 100: 2 + 1 + 50 + 10 = 63).
    On 10 slots one wave: 7 + 10 + 18 = 35."""
    costs = {"o": 2.0, "add": (1.0, 0.5)}
    assert scalemodel.gather(costs, 8, 4, 10, 1.0) == pytest.approx(17)
    assert scalemodel.gather(costs, 100, 4, 10, 1.0) == pytest.approx(49)
    assert scalemodel.gather(costs, 100, 10, 10, 1.0) == pytest.approx(35)
    assert scalemodel.gather(costs, 100, 10, 10, 2.0) == pytest.approx(35 + 5 + 6)   # pixels x 2


def test_growth_ratio():
    assert scalemodel.ratio((1.0, 1e-3), 3000, 1000) == pytest.approx(4 / 2)


@pytest.mark.fast
def test_later_cycles_grow_with_the_image_apart_from_cycle_0():
    """A later cycle's gridding job grows with the image more than cycle 0's (CASA's
    per-pixel initialization of the prediction): fitted on the image-size runs (one
    later cycle, 1000 rows a job) and on a larger-image run of the bench MS (4000 rows a
    job), each less 1e-3 s per row.  By hand: later cycles 2 s at 1e6 pixels and
    2 + 10 = 12 s at 4e6 -> (2 - 10/3, 10/3e6) per pixel; at 7e6 pixels 22 s, 11 times
    the 2 s at 1e6, where cycle 0 (5 s flat) stays 1."""
    def run(imsize, rows, later_casa):
        per_job = rows / 2
        return {"imsize": imsize, "nparts": 2, "layout": {"rows": rows},
                "jobs": {f"allImagers_c0_n{k}": {"casa": 5 + 1e-3 * per_job} for k in (1, 2)}
                | {f"allImagers_c1_n{k}": {"casa": later_casa + 1e-3 * per_job} for k in (1, 2)}}
    small = run(1000, 2000, 2.0)
    large = run(2000, 8000, 12.0)
    record = {"imsize_runs": [small], "layout": {"rows": 8000},
              "large_runs": [{"imsize": 2000, "nparts": 2, "dag": {"jobs": large["jobs"]}}]}
    later = scalemodel.growth(record, "grid", 1e-3)
    assert later == pytest.approx((2 - 10 / 3, 10 / 3e6))
    assert scalemodel.ratio(later, 7e6, 1e6) == pytest.approx(11)
    assert scalemodel.ratio(scalemodel.growth(record, "grid0", 1e-3), 7e6, 1e6) == pytest.approx(1)
    # and the wall time takes each cycle's own fixed cost: cycle 0's 10 s, later cycles' 12 s
    costs = {"o": 0.0, "grid0": (10.0, 0.0), "grid": (12.0, 0.0), "add": (0.0, 0.0),
             "deconvolve": 0.0, "restore": 0.0, "start": 0.0, "cycles": 2, "rows": 0}
    assert scalemodel.wall(costs, 2, slots=2) == pytest.approx(10 + 2 * 12)


@pytest.mark.fast
def test_a_cost_at_another_image_is_its_line_there_never_below_the_measured():
    """A line (2 s + 1e-6 s per pixel) at 1e8 pixels: 102 s; a line through noisy, flat
    points that falls (50 s - 1e-7 s per pixel) stays at the 40 s measured."""
    assert scalemodel.at((2.0, 1e-6), 1e8, 5.0) == pytest.approx(102)
    assert scalemodel.at((50.0, -1e-7), 1e8, 40.0) == pytest.approx(40)


def test_each_partition_mode_and_count_is_predicted_from_the_others():
    """The leave-one-out check keys runs by (partitionby, sub-MSes).  Runs whose jobs
    follow o = 1 s, cycle 0 10 s + 1e-3 s per row, later cycles 4 s + 5e-4 s per row
    (40000 rows), add 1 + 0.5 s per sub-MS, deconvolve 3, restore 5, start 50, two
    cycles after the first; by hand (2 slots):
      1 sub-MS:  50 + (51 + 2.5 + 4) + 2 x (25 + 2.5 + 4) + 6 = 176.5
      2 sub-MSes: 50 + (31 + 3 + 4) + 2 x (15 + 3 + 4) + 6 = 138
      4 sub-MSes: 50 + (2 x 21 + 4 + 4) + 2 x (2 x 10 + 4 + 4) + 6 = 162
    A run with 2 SPW groups whose jobs cost the same but whose wall is 10% longer
    (151.8 s) is predicted at 138 s from the others: -9%; the time runs stay exact."""
    def run(nparts, wall, partitionby="time"):
        jobs = {f"allImagers_c0_n{k}": 10 + 1e-3 * 40000 / nparts for k in range(nparts)}
        jobs |= {f"allImagers_c{c}_n{k}": 4 + 5e-4 * 40000 / nparts
                 for c in (1, 2) for k in range(nparts)}
        jobs |= {name: 1 + 0.5 * nparts for name in ("addImages", "addImages_c1", "addImages_c2")}
        jobs |= {name: 3.0 for name in ("deconvolve", "deconvolve_c1", "deconvolve_c2")}
        return {"name": "DAG", "nparts": nparts, "partitionby": partitionby, "wall": wall,
                "jobs": {n: {"casa": t, "wall": t + 1} for n, t in (jobs | {"restore": 5.0}).items()},
                "stages": {"CF dry run": 10, "CF fill": 35, "CF merge": 5, "partition": 20}}
    record = {"layout": {"rows": 40000}, "imsize": 256,
              "runs": [run(1, 176.5), run(2, 138), run(4, 162), run(2, 151.8, "spw")]}
    lines = scalemodel.check(record).splitlines()
    assert "| 1 | time | 176 | 176 | +0% |" in lines     # (176.5 printed as a whole second)
    assert "| 2 | time | 138 | 138 | +0% |" in lines
    assert "| 4 | time | 162 | 162 | +0% |" in lines
    assert "| 2 | spw | 152 | 138 | -9% |" in lines
