"""plugin_zip_read(): what an uploaded plugin zip declares, and the zips it refuses."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.publishing.zip_read import ZipRejected, ZipTooLarge, plugin_zip_read

SPEC = PluginSpec(
    slug="formwell",
    name="Formwell",
    version="2.5.0",
    description="Drag-and-drop forms.",
    author="Formwell Ltd",
    author_uri="https://formwell.example.com/about/",
    plugin_uri="https://formwell.example.com/",
    update_uri="https://updates.example.com/",
    requires_wp="6.2",
    tested_up_to="6.7",
    requires_php="8.0",
    changelog=(
        "= 2.5.0 =\n* New: multi-step forms.\n* Fix: uploads over 8 MB.\n\n= 2.4.0 =\nFaster."
    ),
    upgrade_notice="= 2.5.0 =\nBack up before updating.\n\n= 2.4.0 =\nSafe.",
)

HEADER = """<?php
/**
 * Plugin Name: Formwell
 * Version: 2.5.0
 */
"""


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _rejected(data: bytes, **kwargs: str) -> ZipRejected:
    with pytest.raises(ZipRejected) as caught:
        plugin_zip_read(data, **kwargs)
    return caught.value


def _central_header_offset(data: bytes) -> int:
    return data.index(b"PK\x01\x02")


def test_a_built_plugin_zip_yields_its_header_fields():
    # When
    package = plugin_zip_read(plugin_zip_build(SPEC), expected_slug="formwell")

    # Then
    assert package.slug == "formwell"
    assert package.main_file == "formwell/formwell.php"
    assert package.name == "Formwell"
    assert package.version == "2.5.0"
    assert package.summary == "Drag-and-drop forms."
    assert package.author == "Formwell Ltd"
    assert package.author_uri == "https://formwell.example.com/about/"
    assert package.plugin_uri == "https://formwell.example.com/"
    assert package.update_uri == "https://updates.example.com/"
    assert (package.requires_wp, package.requires_php) == ("6.2", "8.0")
    assert package.tested_up_to == "6.7"
    assert package.stable_tag == "2.5.0"


def test_readme_sections_become_simple_html_and_the_notice_is_this_versions():
    # When
    package = plugin_zip_read(plugin_zip_build(SPEC))

    # Then
    assert package.changelog == (
        "<h4>2.5.0</h4>\n<ul><li>New: multi-step forms.</li><li>Fix: uploads over 8 MB.</li></ul>"
        "\n<h4>2.4.0</h4>\n<p>Faster.</p>"
    )
    assert package.description == "<p>Drag-and-drop forms.</p>"
    assert package.installation.startswith("<ol><li>Upload the plugin zip")
    assert package.upgrade_notice == "Back up before updating."


def test_readme_markup_is_dropped_and_only_web_links_keep_their_target():
    # Given
    readme = (
        "=== Formwell ===\nStable tag: 2.5.0\n\nShort.\n\n== Description ==\n"
        "Uses <script>alert(1)</script> & **bold** `code`.\n"
        "[docs](https://formwell.example.com/docs?a=1&b=2) [bad](javascript:alert(1))\n"
    )
    data = _zip({"formwell/formwell.php": HEADER, "formwell/readme.txt": readme})

    # When
    package = plugin_zip_read(data)

    # Then
    assert package.description == (
        "<p>Uses alert(1) &amp; <strong>bold</strong> <code>code</code>.\n"
        '<a href="https://formwell.example.com/docs?a=1&amp;b=2">docs</a> <a>bad</a></p>'
    )


def test_header_values_win_over_the_readme_and_the_readme_fills_tested_up_to():
    # Given a header with Requires at least and Requires PHP, a readme with all three
    header = HEADER.replace(" */", " * Requires at least: 6.4\n * Requires PHP: 8.1\n */")
    readme = (
        "=== Formwell ===\nRequires at least: 5.0\nTested up to: 6.8\nRequires PHP: 7.0\n"
        "Stable tag: 2.5.0\n\nShort.\n"
    )
    data = _zip({"formwell/formwell.php": header, "formwell/readme.txt": readme})

    # When
    package = plugin_zip_read(data)

    # Then
    assert (package.requires_wp, package.requires_php, package.tested_up_to) == (
        "6.4",
        "8.1",
        "6.8",
    )


def test_the_header_is_read_as_wordpress_does():
    # Given: any case, '#' comments, trailing '*/', CRLF, and a main file not named after the slug
    php = (
        "<?php\r\n# plugin name:   Formwell Pro  \r\n#VERSION: 3.0.1 */\r\n"
        "/* Requires PHP: 8.2 */\r\n"
    )
    data = _zip(
        {
            "formwell/formwell-main.php": php,
            "formwell/uninstall.php": "<?php // cleanup\n",
            "formwell/includes/other.php": HEADER.replace("Formwell", "Nested"),
        }
    )

    # When
    package = plugin_zip_read(data)

    # Then
    assert package.main_file == "formwell/formwell-main.php"
    assert (package.name, package.version, package.requires_php) == ("Formwell Pro", "3.0.1", "8.2")


def test_a_header_beyond_the_first_8_kib_is_not_a_header():
    # Given
    php = "<?php\n" + "// padding\n" * 800 + "/*\n * Plugin Name: Late\n * Version: 1.0\n */\n"
    assert php.index("Plugin Name") > 8192

    # When
    error = _rejected(_zip({"formwell/formwell.php": php}))

    # Then
    assert error.code == "no_main_file"
    assert "Plugin Name:" in error.message


def test_an_upper_case_readme_is_read_and_a_macos_resource_folder_is_ignored():
    # Given
    readme = "=== Formwell ===\nTested up to: 6.6\nStable tag: 2.5.0\n\nShort.\n"
    data = _zip(
        {
            "formwell/formwell.php": HEADER,
            "formwell/README.TXT": readme,
            "__MACOSX/formwell/._formwell.php": b"\x00\x05\x16\x07",
        }
    )

    # When
    package = plugin_zip_read(data)

    # Then
    assert package.tested_up_to == "6.6"


def test_a_folder_that_is_not_the_products_slug_says_to_rename_it():
    # When
    error = _rejected(plugin_zip_build(SPEC), expected_slug="formwell-pro")

    # Then
    assert error.code == "slug_mismatch"
    assert error.message == (
        "The zip's folder is 'formwell' but this product's slug is 'formwell-pro'. "
        "Rename the folder and zip it again."
    )


def test_a_stable_tag_that_differs_from_the_version_names_both():
    # Given
    readme = "=== Formwell ===\nStable tag: 2.4.1\n\nShort.\n"
    data = _zip({"formwell/formwell.php": HEADER, "formwell/readme.txt": readme})

    # When
    error = _rejected(data)

    # Then
    assert error.code == "stable_tag_mismatch"
    assert "Stable tag: 2.4.1" in error.message
    assert "Version: 2.5.0" in error.message


@pytest.mark.parametrize(
    ("files", "code", "hint"),
    [
        ({"formwell/formwell.php": HEADER, "readme.txt": "x"}, "files_at_top_level", "readme.txt"),
        (
            {"formwell/formwell.php": HEADER, "formwell-old/formwell.php": HEADER},
            "top_level_folders",
            "'formwell', 'formwell-old'",
        ),
        ({"formwell/formwell.php": "<?php echo 1;\n"}, "no_main_file", "'formwell/formwell.php'"),
        (
            {"formwell/formwell.php": HEADER.replace(" * Version: 2.5.0\n", "")},
            "no_version",
            "Version:",
        ),
        (
            {"formwell/formwell.php": HEADER.replace("2.5.0", "v2.5 beta")},
            "invalid_version",
            "'2.5.0'",
        ),
        (
            {"formwell/formwell.php": HEADER.replace(" */", " * Requires PHP: eight\n */")},
            "invalid_requirement",
            "Requires PHP: eight",
        ),
        ({"My Plugin/my.php": HEADER}, "invalid_slug", "'My Plugin'"),
        ({"formwell/../evil.php": HEADER}, "unsafe_path", "formwell/../evil.php"),
        ({"/formwell/formwell.php": HEADER}, "unsafe_path", "/formwell/formwell.php"),
        (
            {"formwell/a.php": HEADER, "formwell/b.php": HEADER},
            "several_main_files",
            "formwell/a.php, formwell/b.php",
        ),
    ],
)
def test_a_misshapen_plugin_zip_is_rejected_with_what_to_fix(files, code, hint):
    # When
    error = _rejected(_zip(files))

    # Then
    assert error.code == code
    assert hint in error.message


def test_bytes_that_are_not_a_zip_are_rejected():
    # When
    error = _rejected(b"<html>not a zip</html>")

    # Then
    assert error.code == "not_a_zip"
    assert error.status == 400


def test_a_zip_with_a_damaged_member_is_rejected_as_corrupt():
    # Given a stored member whose bytes no longer match its CRC
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("formwell/formwell.php", HEADER)
        archive.writestr("formwell/assets/data.txt", "A" * 100)
    data = buffer.getvalue().replace(b"A" * 100, b"B" * 100)

    # When
    error = _rejected(data)

    # Then
    assert error.code == "corrupt"
    assert "formwell/assets/data.txt" in error.message


def test_a_zip_that_claims_to_unpack_past_200_mb_is_refused_unread():
    # Given a central directory that declares a 300 MB member
    data = bytearray(_zip({"formwell/formwell.php": HEADER}))
    offset = _central_header_offset(bytes(data))
    struct.pack_into("<I", data, offset + 24, 300 * 1024 * 1024)

    # When
    error = _rejected(bytes(data))

    # Then
    assert error.code == "zip_bomb"
    assert "300.0 MB" in error.message and "200.0 MB" in error.message


def test_a_zip_that_inflates_absurdly_is_refused_as_a_bomb():
    # Given 20 MB of zeros that deflate to a few KB
    data = _zip({"formwell/formwell.php": HEADER, "formwell/assets/blank.bin": bytes(20 * 2**20)})

    # When
    error = _rejected(data)

    # Then
    assert error.code == "zip_bomb"
    assert "zip bomb" in error.message


def test_an_encrypted_member_is_refused():
    # Given the general-purpose "encrypted" flag on the central directory entry
    data = bytearray(plugin_zip_build(SPEC))
    offset = _central_header_offset(bytes(data))
    data[offset + 8] |= 0x1

    # When
    error = _rejected(bytes(data))

    # Then
    assert error.code == "encrypted"


def test_a_symbolic_link_is_refused():
    # Given
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("formwell/formwell.php", HEADER)
        link = zipfile.ZipInfo("formwell/passwd")
        link.external_attr = (0o120777 << 16) | 0
        archive.writestr(link, "/etc/passwd")

    # When
    error = _rejected(buffer.getvalue())

    # Then
    assert error.code == "unsafe_path"
    assert "symbolic link" in error.message


def test_a_zip_over_the_upload_limit_is_too_large():
    # When
    with pytest.raises(ZipTooLarge) as caught:
        plugin_zip_read(b"PK" + bytes(100 * 2**20 + 1))

    # Then
    assert caught.value.status == 413
    assert caught.value.code == "too_large"
