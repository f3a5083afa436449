#!/usr/bin/env python3
"""Checks that every reference in the project's Markdown files resolves (ctest: test_doc_refs).

In every tracked *.md file:
  - each relative link or image, [text](path) or [text](path#anchor), names a file that exists, and the
    anchor, if any, is a heading of that file (GitHub's slug rule);
  - each repository path written in the text (src/..., docs/..., tools/..., also in `code`) exists,
    from the root or from the file's own directory; a path with * is a glob that must match something,
    one ending in .{h,c} names both files;
  - each section reference "docs/x.md §N" names a numbered heading "## N." of that file.
In the C, GLSL, CMake, shell and Python sources the section references are checked too (comments point
readers at docs/design.md §N). Nowhere may an issue-tracker label (the word issue and a number)
stand in for an explanation: a reader of the tree cannot follow it.
Usage: tests/check_doc_refs.py [REPO_ROOT]; exit 1 and one line per broken reference.
"""
import glob
import os
import re
import subprocess
import sys

TOP_DIRS = ("src", "include", "shaders", "tests", "tools", "docs", "assets", "scripts", "bench", "examples",
            "cmake", ".ci")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./*-]*(?:\{[\w.,]+\}|[\w*]))" % "|".join(re.escape(d) for d in TOP_DIRS))
SECTION = re.compile(r"([\w./-]*[\w-]+\.md),?\s*§\s*(\d+)")
ISSUE = re.compile(r"\bissues? #?\d+", re.I)
CODE_EXT = (".c", ".h", ".comp", ".glsl", ".cmake", ".sh", ".py", ".txt")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files"], check=True, capture_output=True, text=True).stdout
        return [f for f in out.splitlines() if os.path.exists(os.path.join(root, f))]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(("build", ".git"))]
            found += [os.path.relpath(os.path.join(d, f), root) for f in files]
        return found


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def headings(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    return [m.group(1) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)]


def resolve_doc(root, here, name):
    """A .md name as written: relative to the referring file's directory, else to the root, else docs/."""
    for base in (os.path.dirname(here), "", "docs"):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None


def path_exists(root, here, path):
    braces = re.search(r"\{([\w.,]+)\}$", path)
    if braces:
        stem = path[:braces.start()]
        return all(path_exists(root, here, stem + alt) for alt in braces.group(1).split(","))
    for base in ("", here):
        full = os.path.join(root, base, path)
        if glob.glob(full, recursive=True) if "*" in path else os.path.exists(full):
            return True
    return False


def check_sections(root, rel, text, problems):
    for m in ISSUE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        problems.append(f"{rel}:{line}: issue label '{m.group(0)}': say what it is instead")
    for m in SECTION.finditer(text):
        doc = resolve_doc(root, rel, m.group(1))
        line = text.count("\n", 0, m.start()) + 1
        if doc is None:
            problems.append(f"{rel}:{line}: {m.group(1)} does not exist")
            continue
        numbers = {re.match(r"(\d+)\.", h).group(1) for h in headings(os.path.join(root, doc))
                   if re.match(r"\d+\.", h)}
        if m.group(2) not in numbers:
            problems.append(f"{rel}:{line}: {doc} has no section {m.group(2)}")


def check_markdown(root, rel, problems):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    for m in LINK.finditer(text):
        target = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
        if not os.path.exists(os.path.join(root, full)):
            problems.append(f"{rel}:{line}: link to {target}: {full} does not exist")
        elif anchor and full.endswith(".md") and anchor not in {slug(h) for h in headings(os.path.join(root, full))}:
            problems.append(f"{rel}:{line}: link to {target}: no heading #{anchor} in {full}")
    for m in PATH.finditer(text):
        path = m.group(1).rstrip(".")
        line = text.count("\n", 0, m.start()) + 1
        if not path_exists(root, os.path.dirname(rel), path):
            problems.append(f"{rel}:{line}: path {path} does not exist")
    check_sections(root, rel, text, problems)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    problems = []
    files = tracked_files(root)
    for rel in files:
        if rel.endswith(".md"):
            check_markdown(root, rel, problems)
        elif rel.endswith(CODE_EXT) and not rel.startswith("tests/data/"):
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                check_sections(root, rel, f.read(), problems)
    for p in problems:
        print(p)
    n_md = sum(r.endswith(".md") for r in files)
    print(f"check_doc_refs: {len(problems)} broken reference(s) in {n_md} Markdown files and the sources")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
