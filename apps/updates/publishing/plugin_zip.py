"""Build a WordPress plugin zip in memory: a main file with a plugin header and a readme.txt."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class PluginSpec:
    slug: str
    name: str
    version: str
    description: str
    author: str = "Depot Demo"
    author_uri: str = "https://example.com/"
    plugin_uri: str = ""
    requires_wp: str = "6.0"
    tested_up_to: str = "6.7"
    requires_php: str = "7.4"
    update_uri: str = ""
    changelog: str = ""
    upgrade_notice: str = ""


def plugin_zip_build(spec: PluginSpec) -> bytes:
    """Return the bytes of `<slug>/<slug>.php` + `<slug>/readme.txt` zipped as WordPress expects."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{spec.slug}/{spec.slug}.php", _main_file(spec))
        archive.writestr(f"{spec.slug}/readme.txt", _readme(spec))
    return buffer.getvalue()


def _main_file(spec: PluginSpec) -> str:
    """The plugin's main PHP file: the header WordPress reads, and a version constant."""
    optional = {"Plugin URI": spec.plugin_uri, "Update URI": spec.update_uri}
    fields = {
        "Plugin Name": spec.name,
        "Plugin URI": spec.plugin_uri,
        "Description": spec.description,
        "Version": spec.version,
        "Requires at least": spec.requires_wp,
        "Requires PHP": spec.requires_php,
        "Author": spec.author,
        "Author URI": spec.author_uri,
        "License": "GPL-2.0-or-later",
        "Text Domain": spec.slug,
        "Update URI": spec.update_uri,
    }
    lines = [f" * {k + ':':<19}{v}" for k, v in fields.items() if v or k not in optional]
    constant = spec.slug.upper().replace("-", "_") + "_VERSION"
    return "\n".join(
        [
            "<?php",
            "/**",
            *lines,
            " */",
            "",
            "defined( 'ABSPATH' ) || exit;",
            "",
            f"define( '{constant}', '{spec.version}' );",
            "",
        ]
    )


def _readme(spec: PluginSpec) -> str:
    """The readme.txt wordpress.org's parser reads: the header block, then the sections."""
    return f"""=== {spec.name} ===
Contributors: depot
Tags: demo
Requires at least: {spec.requires_wp}
Tested up to: {spec.tested_up_to}
Requires PHP: {spec.requires_php}
Stable tag: {spec.version}
License: GPLv2 or later
License URI: https://www.gnu.org/licenses/gpl-2.0.html

{spec.description}

== Description ==

{spec.description}

== Installation ==

1. Upload the plugin zip in Plugins → Add New → Upload Plugin.
2. Activate it and enter your license key under Settings → {spec.name}.

== Changelog ==

{spec.changelog or f"= {spec.version} ={chr(10)}* Initial release."}

== Upgrade Notice ==

{spec.upgrade_notice or f"= {spec.version} ={chr(10)}Recommended for everyone."}
"""
