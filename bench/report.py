"""BENCHMARKS.md holds one section per benchmark, each between
`<!-- NAME:begin -->` and `<!-- NAME:end -->`, so each benchmark rewrites
only its own section."""

import os


def replace_section(path, name, text):
    """Puts `text` as section `name` of the file at `path`: replaces the
    section when present, else appends it (creating the file if needed)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(path, "w") as fh:
        fh.write(new)
