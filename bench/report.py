"""What every benchmark does with its table: print it and keep a copy."""
import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(text, prefix):
    """Print TEXT and save it as bench/results/PREFIX-<time>.md (git-ignored)."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    print(f"saved {out.relative_to(RESULTS.parent.parent)}")
