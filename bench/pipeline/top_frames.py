"""The frames that cost the most CPU in py-spy's collapsed stacks (`py-spy record --format raw`,
as `bench_pipeline.py --py-spy DIR` writes them): per process, the share of samples in which each
function is on the stack (inclusive) and at the top (self).

    uv run python bench/pipeline/top_frames.py DIR [--top 25] [--match intake]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# py-spy writes "function (file:line)"; the line numbers split one function into many entries.
_LINE = re.compile(r":\d+\)$")


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    names = [_LINE.sub(")", frame) for frame in stack.split(";")]
    return names, int(count)


def summarise(path: Path, top: int, match: str | None) -> None:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        names, count = frames(line)
        total += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    print(f"== {path.stem}: {total} samples")
    if not total:
        return
    print("  inclusive (on the stack):")
    shown = 0
    for name, count in inclusive.most_common():
        if match and match not in name:
            continue
        print(f"    {100 * count / total:5.1f} %  {name}")
        shown += 1
        if shown >= top:
            break
    print("  self (at the top):")
    for name, count in own.most_common(top):
        print(f"    {100 * count / total:5.1f} %  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="inclusive list: only frames containing this text (e.g. a path)")
    parser.add_argument("--only", help="only this process (file stem)")
    args = parser.parse_args()
    for path in sorted(args.directory.glob("*.txt")):
        if args.only and path.stem != args.only:
            continue
        summarise(path, args.top, args.match)


if __name__ == "__main__":
    main()
