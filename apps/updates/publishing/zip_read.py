"""Read an uploaded WordPress plugin zip: its folder, plugin header and readme.txt.

The rules follow WordPress itself, so a zip accepted here installs the same way on a site:
the single top-level folder is the plugin's slug (WP_Upgrader::install_package), the main
file is the PHP file directly in that folder whose first 8 KiB hold a `Plugin Name:` header
(get_plugins() and get_file_data()), and `__MACOSX/` entries are ignored (_unzip_file_*()).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from io import BytesIO

import cmarkgfm

from apps.core.errors import DomainError
from apps.core.html import html_sanitise, html_text
from apps.updates.versions import version_well_formed

MAX_ZIP_BYTES = 100 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
# Source code deflates 3-10x; a whole archive past 100x is padding made to explode.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_FROM_BYTES = 1024 * 1024
MAX_MEMBERS = 50_000
# WordPress reads plugin headers from the first 8 KiB of a file only (get_file_data()).
HEADER_BYTES = 8 * 1024
MAX_README_BYTES = 1024 * 1024
MAX_VERSION_LENGTH = 50  # Release.version
MAX_REQUIREMENT_LENGTH = 20  # Release.requires_wp, requires_php, tested_up_to
MAX_SLUG_LENGTH = 100  # Product.slug
# Lists and quotes in a real readme nest a few levels; thousands only make the sanitiser's
# HTML tree builder slow (its work grows with depth times elements).
MAX_README_NESTING = 50

SLUG_RE = re.compile(r"[A-Za-z0-9_-]+")
IGNORED_PREFIX = "__MACOSX/"
COMPRESSION_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}

HEADER_FIELDS = {
    "name": "Plugin Name",
    "plugin_uri": "Plugin URI",
    "version": "Version",
    "description": "Description",
    "author": "Author",
    "author_uri": "Author URI",
    "requires_wp": "Requires at least",
    "requires_php": "Requires PHP",
    "tested_up_to": "Tested up to",
    "update_uri": "Update URI",
}
README_FIELDS = {
    "requires_wp": "Requires at least",
    "tested_up_to": "Tested up to",
    "requires_php": "Requires PHP",
    "stable_tag": "Stable tag",
}
README_SECTIONS = ("description", "installation", "changelog", "upgrade notice")


class ZipRejected(DomainError):
    """An uploaded plugin zip that cannot be published; the message says what to fix."""

    code = "invalid_zip"
    status = 400


class ZipTooLarge(ZipRejected):
    code = "too_large"
    status = 413


@dataclass(frozen=True)
class PluginPackage:
    """What a plugin zip declares: header fields, readme requirements and readme sections.

    `description`, `installation` and `changelog` are readme sections as simple HTML;
    `upgrade_notice` is the plain-text notice for this version; `summary` is the header's
    one-line Description.
    """

    slug: str
    main_file: str
    name: str
    version: str
    summary: str = ""
    author: str = ""
    author_uri: str = ""
    plugin_uri: str = ""
    update_uri: str = ""
    requires_wp: str = ""
    requires_php: str = ""
    tested_up_to: str = ""
    stable_tag: str = ""
    description: str = ""
    installation: str = ""
    changelog: str = ""
    upgrade_notice: str = ""


def plugin_zip_read(data: bytes, *, expected_slug: str | None = None) -> PluginPackage:
    """Parse a WordPress plugin zip, or raise ZipRejected saying what to fix."""
    archive = _open(data)
    members = _members(archive, size=len(data))
    slug = _folder(members)
    if expected_slug is not None and slug != expected_slug:
        raise ZipRejected(
            f"The zip's folder is '{slug}' but this product's slug is '{expected_slug}'. "
            "Rename the folder and zip it again.",
            code="slug_mismatch",
        )
    _check_integrity(archive, members)
    main_file, header = _main_file(archive, members, slug)
    readme_name = _readme_name(members, slug)
    readme = _read_text(archive, readme_name, MAX_README_BYTES) if readme_name else ""
    fields, sections = _readme_parse(readme)
    return _package(slug, main_file, header, readme_name, fields, sections)


def _open(data: bytes) -> zipfile.ZipFile:
    if len(data) > MAX_ZIP_BYTES:
        raise ZipTooLarge(
            f"The zip is {_mb(len(data))}; the limit is {_mb(MAX_ZIP_BYTES)}. Leave build "
            "leftovers (node_modules, tests, source maps) out of the package."
        )
    try:
        return zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ZipRejected(
            "This file is not a readable zip archive. Create it again with a zip tool "
            "(e.g. `zip -r my-plugin.zip my-plugin`) and upload the .zip file.",
            code="not_a_zip",
        ) from exc


def _members(archive: zipfile.ZipFile, *, size: int) -> list[zipfile.ZipInfo]:
    infos = [i for i in archive.infolist() if not i.filename.startswith(IGNORED_PREFIX)]
    if len(infos) > MAX_MEMBERS:
        raise ZipRejected(
            f"The zip holds {len(infos)} entries; the limit is {MAX_MEMBERS}. Leave build "
            "leftovers out of the package.",
            code="zip_bomb",
        )
    for info in infos:
        _check_path(info)
        if info.flag_bits & 0x1:
            raise ZipRejected(
                f"'{info.filename}' is encrypted; WordPress cannot unpack encrypted zips. "
                "Zip the plugin again without a password.",
                code="encrypted",
            )
        if info.compress_type not in COMPRESSION_METHODS:
            raise ZipRejected(
                f"'{info.filename}' uses a compression method WordPress may not unpack. "
                "Zip the plugin again with the standard (deflate) method.",
                code="unsupported_compression",
            )
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ZipRejected(
            f"The zip unpacks to {_mb(total)}; the limit is {_mb(MAX_UNCOMPRESSED_BYTES)}. "
            "Leave build leftovers out of the package.",
            code="zip_bomb",
        )
    if total > RATIO_CHECK_FROM_BYTES and total > MAX_COMPRESSION_RATIO * max(size, 1):
        raise ZipRejected(
            f"The zip unpacks to {_mb(total)} from {_mb(size)}, more than "
            f"{MAX_COMPRESSION_RATIO} times its size; that looks like a zip bomb, not a plugin.",
            code="zip_bomb",
        )
    return infos


def _check_path(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    unsafe = (
        name.startswith(("/", "\\"))
        or re.match(r"[A-Za-z]:", name) is not None
        or ".." in parts
        or "\x00" in name
    )
    if unsafe:
        raise ZipRejected(
            f"The zip holds an unsafe path '{name}' (absolute, or with '..'). Zip the plugin "
            "folder itself, from its parent directory.",
            code="unsafe_path",
        )
    if "\\" in name:
        raise ZipRejected(
            f"The path '{name}' uses backslashes, which WordPress does not read as folders. "
            "Zip the plugin again with a tool that writes '/' separators.",
            code="unsafe_path",
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ZipRejected(
            f"'{name}' is a symbolic link; a plugin zip must hold regular files only. "
            "Replace the link with the file it points to.",
            code="unsafe_path",
        )


def _folder(members: list[zipfile.ZipInfo]) -> str:
    top_files = sorted(i.filename for i in members if "/" not in i.filename.rstrip("/"))
    top_files = [name for name in top_files if not name.endswith("/")]
    folders = sorted({i.filename.split("/", 1)[0] for i in members if "/" in i.filename})
    if top_files:
        raise ZipRejected(
            f"The zip has files at its top level ({', '.join(top_files[:3])}); everything must "
            "be inside one folder named after the plugin's slug. Zip the plugin folder itself.",
            code="files_at_top_level",
        )
    if len(folders) != 1:
        found = ", ".join(f"'{f}'" for f in folders) or "none"
        raise ZipRejected(
            "The zip must hold exactly one top-level folder, named after the plugin's slug "
            f"(found {found}). Zip the plugin folder itself.",
            code="top_level_folders",
        )
    slug = folders[0]
    if len(slug) > MAX_SLUG_LENGTH or not SLUG_RE.fullmatch(slug):
        raise ZipRejected(
            f"The zip's folder '{slug}' is not a valid plugin slug: use letters, digits and "
            "hyphens only (e.g. 'my-plugin'). Rename the folder and zip it again.",
            code="invalid_slug",
        )
    return slug


def _check_integrity(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    # Unpacking every member checks each CRC and that none is longer than it claims: the
    # declared sizes, already capped above, are what the bomb checks trusted.
    for info in members:
        if info.is_dir():
            continue
        try:
            with archive.open(info) as stream:
                while stream.read(1024 * 1024):
                    pass
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise ZipRejected(
                f"The zip is damaged: '{info.filename}' cannot be unpacked ({exc}). "
                "Create the zip again and upload it once more.",
                code="corrupt",
            ) from exc


def _main_file(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], slug: str
) -> tuple[str, dict[str, str]]:
    candidates = sorted(
        i.filename
        for i in members
        if i.filename.count("/") == 1 and i.filename.lower().endswith(".php")
    )
    found: dict[str, dict[str, str]] = {}
    for name in candidates:
        with archive.open(name) as stream:
            head = stream.read(HEADER_BYTES)
        header = _header_parse(head.decode("utf-8", errors="replace"))
        if header.get("name"):
            found[name] = header
    preferred = f"{slug}/{slug}.php"
    if preferred in found:
        return preferred, found[preferred]
    if len(found) == 1:
        return next(iter(found.items()))
    if not found:
        raise ZipRejected(
            f"No PHP file directly in '{slug}/' starts with a plugin header: add a comment "
            "with 'Plugin Name:' and 'Version:' to the top of the main plugin file (e.g. "
            f"'{preferred}').",
            code="no_main_file",
        )
    raise ZipRejected(
        f"More than one PHP file in '{slug}/' has a plugin header ({', '.join(sorted(found))}), "
        f"so WordPress would list several plugins. Keep the header in the main file only, "
        f"ideally '{preferred}'.",
        code="several_main_files",
    )


def _header_parse(text: str) -> dict[str, str]:
    r"""Read the plugin header fields as WordPress's get_file_data() does.

    WordPress matches `^(?:[ \t]*<\?php)?[ \t/*#@]*Label:(.*)$` per field and cuts the value
    at `*/` or `?>`; the same rule is written with string methods, which take one pass over
    each line where a backtracking regex may take many.
    """
    text = text.lstrip("\ufeff").replace("\r", "\n")
    labels = {label.lower(): key for key, label in HEADER_FIELDS.items()}
    seen: set[str] = set()
    values = {}
    for line in text.split("\n"):
        rest = line.lstrip(" \t")
        if rest[:5].lower() == "<?php":
            rest = rest[5:]
        label, colon, value = rest.lstrip(" \t/*#@").partition(":")
        key = labels.get(label.lower()) if colon else None
        if key is None or key in seen:
            continue
        seen.add(key)  # the first line naming a field decides it, as in WordPress
        if value:
            values[key] = value.split("*/", 1)[0].split("?>", 1)[0].strip()
    return values


def _readme_name(members: list[zipfile.ZipInfo], slug: str) -> str | None:
    names = sorted(
        i.filename for i in members if i.filename.lower() == f"{slug}/readme.txt".lower()
    )
    exact = f"{slug}/readme.txt"
    return exact if exact in names else (names[0] if names else None)


def _read_text(archive: zipfile.ZipFile, name: str, limit: int) -> str:
    with archive.open(name) as stream:
        raw = stream.read(limit)
    return raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _readme_parse(readme: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split readme.txt into header fields and sections (raw text, keyed by lower-case name).

    As WordPress.org's parser: a title line, then `Key: value` lines up to the first line
    that is not one, then the short description, then `== Section ==` blocks. Lines are read
    with string methods, one pass each, so no input makes this slower than its length.
    """
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = preamble
    for line in readme.split("\n"):
        name = _section_name(line)
        if name is not None:
            current = sections.setdefault(name.lower(), [])
        else:
            current.append(line)
    while preamble and (not preamble[0].strip() or _is_title(preamble[0])):
        preamble.pop(0)
    labels = {label.lower(): key for key, label in README_FIELDS.items()}
    fields: dict[str, str] = {}
    # A field line is `Key: value`, with something before the first colon.
    while preamble and preamble[0].find(":") > 0:
        label, _, value = preamble.pop(0).partition(":")
        key = labels.get(label.strip().lower())
        if key and value.strip():
            fields.setdefault(key, value.strip())
    texts = {name: "\n".join(lines).strip() for name, lines in sections.items()}
    texts["short description"] = "\n".join(preamble).strip()
    return fields, texts


def _section_name(line: str) -> str | None:
    """Return the name of a `== Section ==` (or Markdown `## Section`) line, else None."""
    text = line.rstrip()
    if text.startswith("==") and not text.startswith("===") and text.endswith("=="):
        return text[2:-2].strip() if len(text) > 4 else None
    if text.startswith("##") and not text.startswith("###") and len(text) > 2:
        return text[2:].rstrip("#").strip()
    return None


def _is_title(line: str) -> bool:
    """Whether a line is the `=== Plugin Name ===` (or Markdown `# Plugin Name`) title."""
    text = line.rstrip()
    if text.startswith("===") and text.endswith("==="):
        return len(text) > 6
    return text.startswith(("# ", "#\t")) and bool(text[2:].strip())


def _subheading(line: str) -> str | None:
    """Return the text of a `= Sub =` (or Markdown `### Sub`) line, else None."""
    text = line.rstrip()
    if text.startswith("=") and not text.startswith("==") and text.endswith("="):
        return text[1:-1].strip() if len(text) > 2 else None
    hashes = len(text) - len(text.lstrip("#"))
    if hashes in (3, 4) and len(text) > hashes:
        return text[hashes:].rstrip("#").strip()
    return None


def _package(
    slug: str,
    main_file: str,
    header: dict[str, str],
    readme_name: str | None,
    fields: dict[str, str],
    sections: dict[str, str],
) -> PluginPackage:
    version = _checked_version(header, main_file=main_file)
    stable_tag = _checked_stable_tag(
        fields, version=version, main_file=main_file, readme_name=readme_name
    )
    requirements = _checked_requirements(header, fields)
    summary = header.get("description", "")
    description = sections.get("description") or sections.get("short description") or summary
    return PluginPackage(
        slug=slug,
        main_file=main_file,
        name=header["name"],
        version=version,
        summary=summary,
        # `[^<>]`, not `[^>]`: each tag is scanned once even in a header full of `<`.
        author=re.sub(r"<[^<>]*>", "", header.get("author", "")).strip(),
        author_uri=header.get("author_uri", ""),
        plugin_uri=header.get("plugin_uri", ""),
        update_uri=header.get("update_uri", ""),
        stable_tag=stable_tag,
        description=readme_html(description, section="Description"),
        installation=readme_html(sections.get("installation", ""), section="Installation"),
        changelog=readme_html(sections.get("changelog", ""), section="Changelog"),
        upgrade_notice=_upgrade_notice(sections.get("upgrade notice", ""), version=version),
        **requirements,
    )


def _checked_version(header: dict[str, str], *, main_file: str) -> str:
    """The header's `Version:`, refused when missing or not one WordPress can compare."""
    version = header.get("version", "")
    if not version:
        raise ZipRejected(
            f"The plugin header of '{main_file}' has no 'Version:' line. Add one, e.g. "
            "' * Version: 1.0.0', and zip the plugin again.",
            code="no_version",
        )
    if len(version) > MAX_VERSION_LENGTH or not version_well_formed(version):
        raise ZipRejected(
            f"The plugin header of '{main_file}' has 'Version: {version}', which WordPress "
            "cannot compare. Use numbers separated by dots, e.g. '2.5.0' or '2.5.0-beta.1'.",
            code="invalid_version",
        )
    return version


def _checked_stable_tag(
    fields: dict[str, str], *, version: str, main_file: str, readme_name: str | None
) -> str:
    """The readme's `Stable tag:`, refused when it names another version than the header."""
    stable_tag = fields.get("stable_tag", "")
    # "trunk" is WordPress.org's "whatever trunk says", so it cannot disagree.
    if stable_tag and stable_tag.lower() != "trunk" and stable_tag != version:
        raise ZipRejected(
            f"{readme_name} says 'Stable tag: {stable_tag}' but the plugin header of "
            f"'{main_file}' says 'Version: {version}'. Set both to the version you are "
            "releasing and zip the plugin again.",
            code="stable_tag_mismatch",
        )
    return stable_tag


def _checked_requirements(header: dict[str, str], fields: dict[str, str]) -> dict[str, str]:
    """WordPress and PHP minimums and "tested up to", the header first, refused if not versions."""
    requirements = {
        "requires_wp": header.get("requires_wp") or fields.get("requires_wp", ""),
        "requires_php": header.get("requires_php") or fields.get("requires_php", ""),
        "tested_up_to": header.get("tested_up_to") or fields.get("tested_up_to", ""),
    }
    labels = {**README_FIELDS, **HEADER_FIELDS}
    for key, value in requirements.items():
        if value and (len(value) > MAX_REQUIREMENT_LENGTH or not version_well_formed(value)):
            raise ZipRejected(
                f"'{labels[key]}: {value}' is not a version number. Write it as digits and "
                "dots, e.g. '6.0' or '7.4', in the plugin header or readme.txt.",
                code="invalid_requirement",
            )
    return requirements


def _upgrade_notice(text: str, *, version: str) -> str:
    """Return the upgrade notice for `version` (its `= version =` block, if any) as text.

    No tags: WordPress shows the notice inline (and strips tags on some screens), so it is
    text with `<`, `>` and `&` escaped, safe wherever WordPress or Depot puts it.
    """
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    loose: list[str] = []
    for line in text.split("\n"):
        head = _subheading(line)
        if head is not None:
            current = head
            blocks.setdefault(current, [])
        elif current is None:
            loose.append(line)
        else:
            blocks[current].append(line)
    notice = " ".join(loose) if not blocks else " ".join(blocks.get(version, []))
    return html_text(" ".join(notice.split()))


def readme_html(text: str, *, section: str = "Description") -> str:
    """Render a readme.txt section as sanitised HTML: `= Sub =` headings, then CommonMark.

    cmark (GitHub's CommonMark implementation) runs in time linear in its input and, in its
    default safe mode, drops raw HTML and `javascript:` links; ammonia then keeps only the
    allow-list in apps.core.html. Raises ZipRejected for nesting past MAX_README_NESTING.
    """
    lines = []
    for line in text.split("\n"):
        head = _subheading(line) if line.startswith("=") else None
        # WordPress.org turns `= 1.2.0 =` into a fourth-level heading, as here.
        lines.append(f"#### {head}" if head else line)
    rendered = cmarkgfm.markdown_to_html("\n".join(lines))
    # cmark puts each list item on a line of its own; keep a tight list on one line, as
    # Depot has always stored and served it (cmark escapes `<` in text, so these are tags).
    rendered = rendered.replace(">\n<li>", "><li>").replace("</li>\n</", "</li></")
    depth = _nesting_depth(rendered)
    if depth > MAX_README_NESTING:
        raise ZipRejected(
            f"readme.txt's {section} section nests lists or quotes {depth} levels deep; the "
            f"limit is {MAX_README_NESTING}. Flatten it and zip the plugin again.",
            code="readme_too_deep",
        )
    return html_sanitise(rendered).strip()


def _nesting_depth(rendered: str) -> int:
    """Return how deep the elements in cmark's HTML nest.

    cmark's output is regular: text and attributes escape `<` and `>`, so every `<` opens a
    tag or a `<!-- raw HTML omitted -->` comment, and empty elements end in `/>`.
    """
    depth = deepest = 0
    start = rendered.find("<")
    while start != -1:
        end = rendered.find(">", start)
        if end == -1:
            break
        if rendered.startswith("</", start):
            depth -= 1
        elif not rendered.startswith("<!", start) and rendered[end - 1] != "/":
            depth += 1
            deepest = max(deepest, depth)
        start = rendered.find("<", end)
    return deepest


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
