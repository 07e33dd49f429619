"""The claims index (reports/index.md) and README's results block are what reports/claims.py and
reports/sync_readme.py make from the committed reports: a stale copy fails here (re-run both scripts)."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _scripts():
    sys.path.insert(0, str(REPO / "reports"))
    try:
        import claims
        import sync_readme
    finally:
        sys.path.remove(str(REPO / "reports"))
    return claims, sync_readme


def test_claims_index_and_readme_results_are_up_to_date():
    claims, sync_readme = _scripts()
    assert (REPO / "reports" / "index.md").read_text() == claims.page(), "run python reports/claims.py"
    readme = (REPO / "README.md").read_text()
    committed = re.search(r"<!-- results:begin -->.*?<!-- results:end -->", readme, flags=re.S).group(0)
    assert committed == sync_readme.block(), "run python reports/sync_readme.py"


def test_every_claim_names_sweeps_that_exist_and_a_paper_number():
    claims, _ = _scripts()
    for entry in claims.CLAIMS:
        assert entry.paper and entry.claim
        for sweep in entry.sweeps:
            assert (REPO / "sweeps" / f"{sweep}.yaml").exists(), sweep
