"""What every benchmark does with its table: print it and keep a copy."""
import datetime
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(text, prefix):
    """Print TEXT and save it as bench/results/PREFIX-<time>.md (git-ignored)."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    print(f"saved {out.relative_to(RESULTS.parent.parent)}")


def ratio_table(title, how, first_column, rows, labels, median):
    """A markdown table of MEDIAN[row, label] in ns, each with its ratio to
    the first label's (native) figure of its row."""
    lines = [
        f"# {title}, {datetime.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs; {how}",
        "",
        f"| {first_column} | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for row in rows:
        native = median[row, labels[0]]
        cells = [f"{median[row, label]:.1f} ({median[row, label] / native:.2f}x)" for label in labels]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
