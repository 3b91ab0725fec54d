"""Reading a study's text files: UTF-8 with the row of a bad byte, YAML within limits.

``study.yml`` and the final report's texts are written by hand. Both are read
as UTF-8 (a byte-order mark allowed), and a file that is not names the row of
its first bad byte. YAML is read safely and within limits (size, nesting,
alias expansion: "billion laughs"), a key repeated in one mapping is refused
(YAML would keep the last without a word), numbers with a leading zero stay
text (a municipality code 0114), and every key's line is kept so that an error
names the row an editor shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..errors import ValidationError

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "LimitedLoader",
    "YamlLimitError",
    "key_lines",
    "line_for",
    "parse_yaml",
    "read_utf8",
]


def read_utf8(path: Path, name: str) -> str:
    """The file's text, read as UTF-8 (a byte-order mark is dropped).

    Raises
    ------
    ValidationError
        The file is not valid UTF-8, with the row of its first bad byte.
    """
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise ValidationError.single(
            name, "not valid UTF-8 (save the file as UTF-8)", row=row
        ) from None


#: Limits on study.yml: a study description is small, and YAML's aliases can
#: make a small file expand into billions of nodes ("billion laughs").
MAX_YAML_BYTES = 2_000_000
MAX_YAML_DEPTH = 40
MAX_YAML_NODES = 200_000


class YamlLimitError(yaml.YAMLError):
    """study.yml breaks a limit or repeats a key; carries the line it is found on."""

    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message = message
        self.problem_mark = mark


class LimitedLoader(yaml.SafeLoader):
    """Safe YAML loading with limits, no repeated keys, and numbers with a leading zero as text."""

    def compose_node(self, parent, index):
        # The composer recurses once per level of nesting: bound it before Python's stack.
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise YamlLimitError(
                    f"nested more than {MAX_YAML_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        # YAML keeps the last of two equal keys; a study must not change without a word.
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = key_node.value
            if key in seen:
                raise YamlLimitError(
                    f"key '{key}' appears twice in the same mapping (first on row {seen[key]}); "
                    "YAML would silently keep only the last",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (counted, not built)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = node.value
            else:
                children = []
            sizes[id(node)] = 1 + sum(size(child) for child in children)
        return sizes[id(node)]

    return size(root)


def parse_yaml(text: str) -> tuple[yaml.Node | None, object]:
    """The composed document (for line numbers) and its Python value, within the limits.

    Raises
    ------
    yaml.YAMLError
        Malformed YAML, a repeated key, or a limit broken.
    """
    loader = LimitedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        if (n := _expanded_size(root)) > MAX_YAML_NODES:
            raise YamlLimitError(
                f"the document expands to {n:,} values (more than {MAX_YAML_NODES:,}): "
                "are aliases (*name) repeating large parts?",
                None,
            )
        return root, loader.construct_document(root)
    finally:
        loader.dispose()


def _int_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | str:
    # YAML 1.1 reads an unquoted 0114 as the octal number 76, which would turn the
    # municipality code 0114 into 0076. Keep it as the text the user wrote.
    text = loader.construct_scalar(node)
    if re.fullmatch(r"[-+]?0[0-7_]+", text):
        return text
    return loader.construct_yaml_int(node)


LimitedLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)


def key_lines(root: yaml.Node | None) -> dict[tuple, int]:
    """Map YAML paths to line numbers, so errors can name the row in study.yml."""
    lines: dict[tuple, int] = {}
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:  # an alias: its lines are those of the anchor, already walked
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    if root is not None:
        walk(root, ())
    return lines


def line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    for cut in range(len(loc), -1, -1):
        if tuple(loc[:cut]) in lines:
            return lines[tuple(loc[:cut])]
    return None
