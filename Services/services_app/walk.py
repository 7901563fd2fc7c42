"""The one confined folder walk: every reader of a folder tree (conversion,
knowledge base, checks, transforms) lists its files through `walk`.

Confinement: a user names a folder inside their workspace's root; nothing the
walk yields may lie outside that root, whatever the folder holds. Skipped,
each with a per-file reason in ``skipped``:

- a symlink (file or folder) whose target lies outside the root
  (``outside_root``);
- a regular file with more than one hard link (``hard_link``): another name of
  the same bytes may lie outside the root, and a walk cannot tell where;
- a folder on another file system than the source folder (``mount``): a
  mount inside the root can expose anything;
- folders of the root that belong elsewhere (``skip_dirs``, e.g. an output
  folder, and any folder holding a `FENCE` file, e.g. the folder of all
  workspaces inside the data root) are not entered at all;
- symlink loops, unreadable entries, devices, sockets and pipes.

Paths are handled as bytes from the file system, so names that are not valid
UTF-8 are read like any other file; they are shown with replacement
characters and identified by their exact bytes. The walk is iterative (a very
deep tree cannot overflow the stack) and follows symlinked folders only when
they stay inside the root and were not visited before.
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import operator
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(eq=False)  # not frozen: a frozen dataclass's __init__ is several times slower
class FileEntry:
    path: bytes  # absolute, as the file system knows it
    rel: bytes  # relative to the source, "/"-separated
    size: int
    mtime_ns: int
    ext: str = ""  # lower-case extension with the dot, "" when none

    # cached: the build asks for it several times per file
    @functools.cached_property
    def rel_text(self) -> str:
        return display(self.rel)


_EXTENSIONS: dict[bytes, str] = {}  # a tree has few distinct suffixes: decode each once


def extension(name: bytes) -> str:
    dot = name.rfind(b".")
    if dot <= 0:
        return ""
    suffix = name[dot:]
    ext = _EXTENSIONS.get(suffix)
    if ext is None:
        ext = _EXTENSIONS[suffix] = suffix.decode("utf-8", "replace").lower()
    return ext


@dataclass(frozen=True)
class Skipped:
    rel: str
    reason: str
    code: str


def display(raw: bytes) -> str:
    """A path as text: exact when it is UTF-8, with U+FFFD for bytes that are not."""
    return raw.decode("utf-8", "replace")


def _matches(rel: str, name: str, patterns: list[str]) -> bool:
    # A pattern without "/" is matched against the name, one with "/" against the relative path.
    # fnmatch's "*" also crosses "/", so "reports/*.pdf" covers nested reports too.
    for p in patterns:
        target = rel if "/" in p else name
        if fnmatch.fnmatchcase(target, p) or (p.startswith("**/") and fnmatch.fnmatchcase(rel, p[3:])):
            return True
    return False


_by_name = operator.attrgetter("name")

# A folder holding this file is never entered by a walk that starts above it: the folder of all
# workspaces carries it, so a walk of the data root (the migrated default workspace) never lists
# other workspaces' files, whichever reader calls it.
FENCE = b".services-fence"


def walk(
    source: os.PathLike | str,
    *,
    data_root: os.PathLike | str,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    include_hidden: bool = False,
    max_depth: int = 256,
    skipped: list[Skipped] | None = None,
    skip_dirs: tuple[os.PathLike | str, ...] = (),
    allow_hard_links: bool = False,
) -> Iterator[FileEntry]:
    """Yield every regular file under ``source`` (sorted per folder) that passes the filters.

    ``data_root`` is the confinement root. Files and folders that are not read are appended to
    ``skipped`` with the reason (see the module docstring); folders in ``skip_dirs`` (real paths)
    are passed over without a word."""
    skipped = skipped if skipped is not None else []
    root = os.fsencode(os.path.realpath(source))
    data_root_b = os.fsencode(os.path.realpath(data_root))
    hidden = {os.fsencode(os.path.realpath(d)) for d in skip_dirs}
    try:
        root_dev = os.stat(root).st_dev
    except OSError:
        root_dev = None
    include = include or []
    exclude = exclude or []
    visited: set[bytes] = {root}
    stack: list[tuple[bytes, bytes, int]] = [(root, b"", 0)]

    def inside(real: bytes) -> bool:
        return real == data_root_b or real.startswith(data_root_b + b"/")

    is_dir, is_reg = stat.S_ISDIR, stat.S_ISREG  # bound once: this loop runs per file

    while stack:
        folder, rel_folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_by_name)
        except OSError as exc:
            skipped.append(Skipped(display(rel_folder) or ".", f"cannot list the folder: {exc.strerror}", "unreadable"))
            continue
        subfolders: list[tuple[bytes, bytes, int]] = []
        prefix = rel_folder + b"/" if rel_folder else b""
        for entry in entries:
            name_b: bytes = entry.name
            if not include_hidden and name_b.startswith(b"."):
                continue
            rel_b = prefix + name_b
            # Text forms only when a pattern or a message needs them: a rebuild with nothing
            # changed spends most of its time in this loop.
            rel = name = ""
            if include or exclude:
                rel, name = display(rel_b), display(name_b)
            try:
                is_link = entry.is_symlink()
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    skipped.append(
                        Skipped(display(rel_b), "symlink loop: the link points back to itself", "symlink_loop")
                    )
                else:
                    skipped.append(
                        Skipped(display(rel_b), f"cannot read: {exc.strerror} (broken symlink?)", "unreadable")
                    )
                continue
            real = os.path.realpath(entry.path) if is_link else entry.path
            if is_link and not inside(real):
                skipped.append(
                    Skipped(display(rel_b), "symlink leads outside the data root; not followed", "outside_root")
                )
                continue
            if is_dir(st.st_mode):
                if (hidden and real in hidden) or os.path.exists(os.path.join(entry.path, FENCE)):
                    continue
                if root_dev is not None and st.st_dev != root_dev:
                    skipped.append(
                        Skipped(display(rel_b), "another file system is mounted here; not followed", "mount")
                    )
                    continue
                if exclude and (_matches(rel, name, exclude) or _matches(rel + "/", name + "/", exclude)):
                    continue
                if real in visited or (is_link and (root == real or root.startswith(real + b"/"))):
                    skipped.append(
                        Skipped(display(rel_b), "symlink loop: this folder was already visited", "symlink_loop")
                    )
                    continue
                if depth + 1 > max_depth:
                    skipped.append(Skipped(display(rel_b), f"deeper than max_depth={max_depth}; not read", "too_deep"))
                    continue
                visited.add(real)
                subfolders.append((entry.path, rel_b, depth + 1))
            elif is_reg(st.st_mode):
                if st.st_nlink > 1 and not allow_hard_links:
                    skipped.append(
                        Skipped(
                            display(rel_b),
                            f"the file has {st.st_nlink} hard links; another of its names may lie outside the data "
                            "root, so it is not read (copy it instead of linking it)",
                            "hard_link",
                        )
                    )
                    continue
                if include and not _matches(rel, name, include):
                    continue
                if exclude and _matches(rel, name, exclude):
                    continue
                yield FileEntry(entry.path, rel_b, st.st_size, st.st_mtime_ns, extension(name_b))
            else:
                skipped.append(Skipped(display(rel_b), "not a regular file (device, socket or pipe)", "not_a_file"))
        stack.extend(reversed(subfolders))
