"""scipy's t-tests for project 23's fixture: adds them to the JSON fixture_mlm.py wrote.

Usage: fixture_ttests.py FIXTURE.json (see make_fixture.sh).
"""

import json
import pathlib
import sys

import scipy
from scipy import stats

path = pathlib.Path(sys.argv[1])
ref = json.loads(path.read_text())
female = [r["bias"] for r in ref["female"]]
male = [r["bias"] for r in ref["male"]]


def res(r):
    return {"t": float(r.statistic), "p": float(r.pvalue), "df": float(r.df)}


ref["scipy"] = scipy.__version__
ref["ttests"] = {
    "female_vs_0": res(stats.ttest_1samp(female, 0.0)),
    "male_vs_0": res(stats.ttest_1samp(male, 0.0)),
    "male_vs_female": res(stats.ttest_ind(male, female, equal_var=True)),
}
ref["spec_examples"] = {
    "one_sample_1to5": res(stats.ttest_1samp([1, 2, 3, 4, 5], 0.0)),
    "two_sample_3to7_vs_1to5": res(stats.ttest_ind([3, 4, 5, 6, 7], [1, 2, 3, 4, 5])),
}
path.write_text(json.dumps(ref, indent=1) + "\n")
print(f"added scipy t-tests to {path}")
