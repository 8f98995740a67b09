"""Where the suite's real data comes from: files in this repository only, never ../shared.

The disaster tweets are the package's own demo data (the full Kaggle train.csv, shipped for `prelabel demo`);
the other sets are the seeded samples under tests/data/datasets/ (tests/data/README.md says how they were drawn).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SAMPLES = TESTS / "data" / "datasets"


def demo_data() -> Path:
    return Path(str(resources.files("prelabel") / "demo_data"))


def dataset_dir(name: str) -> Path:
    """The folder of one data set, laid out as in the shared data (`<name>/train.csv` …)."""
    return demo_data() if name == "disaster_tweets" else SAMPLES / name


def link_datasets(into: Path) -> Path:
    """A folder holding every data set the tests read, as links: `into/<name>/…`."""
    names = ["disaster_tweets", *sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())]
    for name in names:
        (into / name).symlink_to(dataset_dir(name), target_is_directory=True)
    return into
