"""Gathers every bench/RESULTS-*.md into bench/RESULTS.md, in a fixed order (`make bench` runs this last)."""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ORDER = (
    "ingest",
    "summary",
    "telegram",
    "latency",
    "digest",
    "scale",
    "startup",
    "workers",
    "feeds-scale",
    "reports",
    "spam",
)


def main() -> int:
    parts = ["# newsbot benchmark results", "", "Each section is written by its script in bench/; see bench/README.md."]
    for name in ORDER:
        path = BENCH_DIR / f"RESULTS-{name}.md"
        if path.exists():
            parts += ["", path.read_text(encoding="utf-8").strip().replace("\n# ", "\n## ", 1).replace("# ", "## ", 1)]
    (BENCH_DIR / "RESULTS.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {BENCH_DIR / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
