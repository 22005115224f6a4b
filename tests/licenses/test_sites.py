"""Site identity: URLs reduced as EDD does, the User-Agent's site, and staging sites."""

from __future__ import annotations

import pytest

from apps.licenses.sites import site_from_user_agent, site_is_staging, site_normalise

NORMALISED = [
    # Scheme: https, http, none, protocol-relative, upper case, EDD's one-slash typo.
    pytest.param("https://example.com/", "example.com", id="https"),
    pytest.param("http://example.com", "example.com", id="http"),
    pytest.param("example.com", "example.com", id="no-scheme"),
    pytest.param("//example.com/", "example.com", id="protocol-relative"),
    pytest.param("HTTPS://EXAMPLE.COM/", "example.com", id="upper-case-scheme-and-host"),
    pytest.param("http:/example.com", "example.com", id="one-slash-after-scheme"),
    # www.
    pytest.param("https://www.example.com/", "example.com", id="www"),
    pytest.param("WWW.Example.com", "example.com", id="www-upper-case"),
    pytest.param("https://www.www.example.com", "example.com", id="www-twice"),
    pytest.param("https://www2.example.com/", "www2.example.com", id="www2-is-kept"),
    pytest.param("https://shop.www.example.com", "shop.www.example.com", id="inner-www-is-kept"),
    pytest.param("https://www.com/", "www.com", id="www-domain-is-kept"),
    # Port, user-info, query, fragment.
    pytest.param("http://example.com:8080/", "example.com", id="port"),
    pytest.param("https://example.com:443", "example.com", id="default-port"),
    pytest.param("localhost:8888/wordpress", "localhost/wordpress", id="mamp-port-no-scheme"),
    pytest.param("https://example.com:/", "example.com", id="empty-port"),
    pytest.param("https://admin:s3cret@example.com/", "example.com", id="user-info"),
    pytest.param("https://example.com/?lang=en", "example.com", id="query"),
    pytest.param("https://example.com#content", "example.com", id="fragment-without-slash"),
    pytest.param("https://example.com/shop/?p=12#reviews", "example.com/shop", id="query-fragment"),
    # Path: kept, slashes collapsed and trimmed, lower-cased.
    pytest.param("https://example.com/shop", "example.com/shop", id="path-kept"),
    pytest.param("https://example.com/shop/", "example.com/shop", id="trailing-slash"),
    pytest.param("https://example.com///", "example.com", id="trailing-slashes"),
    pytest.param("https://example.com//shop//en//", "example.com/shop/en", id="repeated-slashes"),
    pytest.param("https://example.com/Shop/EN/", "example.com/shop/en", id="path-upper-case"),
    pytest.param("https://example.com/my shop/", "example.com/my%20shop", id="space-in-path"),
    pytest.param("https://example.com/%C3%BC", "example.com/%c3%bc", id="percent-kept-as-is"),
    # Whitespace and the root's dot.
    pytest.param("  https://example.com/ \n", "example.com", id="surrounding-whitespace"),
    pytest.param("\thttps://example.com/\u00a0", "example.com", id="tab-and-nbsp"),
    pytest.param("https://example.com./", "example.com", id="fqdn-dot"),
    # IP addresses.
    pytest.param("http://127.0.0.1:8080/wp/", "127.0.0.1/wp", id="ipv4-port-path"),
    pytest.param("http://[::1]:8080/", "[::1]", id="ipv6-port"),
    pytest.param("http://[0:0:0:0:0:0:0:1]/", "[::1]", id="ipv6-compressed"),
    pytest.param("https://[2001:DB8::1]/shop", "[2001:db8::1]/shop", id="ipv6-upper-case"),
    # Real-world shapes.
    pytest.param("https://shop.example.co.uk/", "shop.example.co.uk", id="second-level-tld"),
    pytest.param("https://my_site.example.com/", "my_site.example.com", id="underscore"),
    pytest.param("https://example.com/blog/wp", "example.com/blog/wp", id="wordpress-in-subdir"),
]


@pytest.mark.parametrize(("url", "expected"), NORMALISED)
def test_site_url_is_normalised_as_edd_does(url, expected):
    # When
    site = site_normalise(url)

    # Then
    assert site == expected


@pytest.mark.parametrize(("url", "expected"), NORMALISED)
def test_normalising_twice_changes_nothing(url, expected):
    # Given
    site = site_normalise(url)

    # When
    again = site_normalise(site)

    # Then
    assert again == site


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://www.bücher.de/", id="unicode-https-www"),
        pytest.param("bücher.de", id="unicode-bare"),
        pytest.param("http://BÜCHER.DE", id="unicode-upper-case"),
        pytest.param("bu\u0308cher.de", id="unicode-decomposed"),
        pytest.param("\uff42\u00fc\uff43\uff48\uff45\uff52\uff0e\uff44\uff45", id="fullwidth"),
        pytest.param("bücher\u3002de", id="ideographic-full-stop"),
        pytest.param("xn--bcher-kva.de", id="punycode"),
        pytest.param("https://www.XN--BCHER-KVA.DE/", id="punycode-upper-case"),
    ],
)
def test_idn_and_punycode_are_the_same_site(url):
    # When
    site = site_normalise(url)

    # Then
    assert site == "xn--bcher-kva.de"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://пример.рф/", "xn--e1afmkfd.xn--p1ai", id="cyrillic-tld"),
        pytest.param("https://例え.jp/", "xn--r8jz45g.jp", id="japanese"),
        pytest.param("https://ΣΟΦΙΑ.gr/", "xn--mxaprpq.gr", id="greek-upper-case"),
        # UTS #46 as browsers apply it keeps ß; IDNA 2003 would fold it into strasse.de.
        pytest.param("https://straße.de/", "xn--strae-oqa.de", id="sharp-s-kept"),
        pytest.param("https://münchen.de/Über/", "xn--mnchen-3ya.de/über", id="unicode-path"),
    ],
)
def test_idn_host_becomes_punycode(url, expected):
    # When
    site = site_normalise(url)

    # Then
    assert site == expected


def test_path_makes_a_different_site():
    # When
    root = site_normalise("https://example.com/")
    shop = site_normalise("https://example.com/shop/")

    # Then
    assert root != shop


def test_sharp_s_and_ss_are_different_sites():
    # Then
    assert site_normalise("straße.de") != site_normalise("strasse.de")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("", id="empty"),
        pytest.param("   \n", id="whitespace-only"),
        pytest.param("https://", id="scheme-only"),
        pytest.param("//", id="protocol-relative-only"),
        pytest.param("https:///", id="scheme-and-slashes"),
        pytest.param("/wp-admin/", id="path-only"),
        pytest.param("?p=1", id="query-only"),
        pytest.param("https://:8080/", id="port-only"),
        pytest.param("https://admin@/", id="user-info-only"),
        pytest.param(".", id="root-dot-only"),
        pytest.param("not a url at all", id="spaces-in-host"),
        pytest.param("https://exa mple.com/", id="space-in-host"),
        pytest.param("https://exa\u3000mple.com/", id="ideographic-space-in-host"),
        pytest.param("https://example.com\n/", id="newline"),
        pytest.param("https://exa<mple>.com/", id="angle-brackets"),
        pytest.param("https://example..com/", id="empty-label"),
        pytest.param("https://.example.com/", id="leading-dot"),
        pytest.param("ftp://example.com/", id="ftp-scheme"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("https://example.com:http/", id="port-not-a-number"),
        pytest.param("https://example.com:\uff18\uff10/", id="port-fullwidth-digits"),
        pytest.param("::1", id="ipv6-without-brackets"),
        pytest.param("http://[::1/", id="ipv6-unclosed"),
        pytest.param("http://[::1]x/", id="ipv6-trailing-junk"),
        pytest.param("http://[example.com]/", id="ipv6-not-an-address"),
        pytest.param(f"https://{'a' * 64}.com/", id="label-longer-than-63"),
        pytest.param("https://" + ".".join(["a" * 60] * 5) + ".com/", id="host-longer-than-253"),
        pytest.param(
            "https://" + ".".join(["a" * 60] * 3) + ".com/" + "p" * 70, id="site-longer-than-255"
        ),
    ],
)
def test_url_without_a_usable_host_is_refused(url):
    # Then
    with pytest.raises(ValueError, match=r"(?i)site URL"):
        site_normalise(url)


def test_refusal_names_the_problem_in_plain_words():
    # When
    with pytest.raises(ValueError) as excinfo:
        site_normalise("https://")

    # Then
    assert str(excinfo.value) == "'https://' is not a site URL: it has no host name."


def test_longest_site_is_accepted():
    # Given a 253-character host and a path that fills the site to 255 characters
    host = ".".join(["a" * 63] * 3 + ["b" * 61])
    url = f"https://{host}/p"

    # When
    site = site_normalise(url)

    # Then
    assert len(host) == 253
    assert len(site) == 255


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        pytest.param("WordPress/6.7.1; https://example.com/", "https://example.com/", id="current"),
        pytest.param("WordPress/6.0; http://example.com", "http://example.com", id="older"),
        pytest.param(
            "WordPress/4.9.8; http://localhost:8888/wordpress/",
            "http://localhost:8888/wordpress/",
            id="local-subdirectory",
        ),
        pytest.param(
            "WordPress/6.8-beta2-59999; https://www.bücher.de/",
            "https://www.bücher.de/",
            id="beta-and-idn",
        ),
        pytest.param("WordPress/6.7.1;https://example.com/", "https://example.com/", id="no-space"),
        pytest.param("WordPress/6.7.1", None, id="version-only"),
        pytest.param("WordPress/6.7.1; ", None, id="empty-url"),
        pytest.param(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            None,
            id="browser",
        ),
        pytest.param("curl/8.5.0", None, id="curl"),
        pytest.param("MyWordPress/1.0; https://example.com/", None, id="other-product"),
        pytest.param("", None, id="empty"),
    ],
)
def test_site_is_read_from_wordpress_user_agent(user_agent, expected):
    # When
    url = site_from_user_agent(user_agent)

    # Then
    assert url == expected


def test_user_agent_site_normalises_like_the_url_parameter():
    # Given
    user_agent = "WordPress/6.7.1; https://www.Example.com/shop/"

    # When
    url = site_from_user_agent(user_agent)

    # Then
    assert url is not None
    assert site_normalise(url) == site_normalise("example.com/shop")


@pytest.mark.parametrize(
    ("site", "staging"),
    [
        # Local machines and private networks.
        pytest.param("localhost", True, id="localhost"),
        pytest.param("mysite.localhost", True, id="dot-localhost"),
        pytest.param("127.0.0.1", True, id="ipv4-loopback"),
        pytest.param("127.0.0.1/wordpress", True, id="ipv4-loopback-path"),
        pytest.param("[::1]", True, id="ipv6-loopback"),
        pytest.param("10.0.0.5", True, id="ipv4-private-10"),
        pytest.param("172.16.4.2", True, id="ipv4-private-172"),
        pytest.param("192.168.1.10", True, id="ipv4-private-192"),
        pytest.param("169.254.10.20", True, id="ipv4-link-local"),
        pytest.param("0.0.0.0", True, id="ipv4-unspecified"),  # noqa: S104
        pytest.param("[fe80::1]", True, id="ipv6-link-local"),
        pytest.param("[fd12:3456::1]", True, id="ipv6-unique-local"),
        pytest.param("[::ffff:c0a8:10a]", True, id="ipv4-mapped-private"),
        pytest.param("intranet", True, id="single-label"),
        # Reserved and development TLDs.
        pytest.param("shop.local", True, id="tld-local"),
        pytest.param("mysite.test", True, id="tld-test"),
        pytest.param("mysite.dev", True, id="tld-dev"),
        pytest.param("client.staging", True, id="tld-staging"),
        pytest.param("site.example", True, id="tld-example"),
        pytest.param("site.invalid", True, id="tld-invalid"),
        pytest.param("wp.corp.internal", True, id="tld-internal"),
        # Staging subdomains.
        pytest.param("staging.example.com", True, id="staging-subdomain"),
        pytest.param("stage.example.com", True, id="stage-subdomain"),
        pytest.param("dev.example.com", True, id="dev-subdomain"),
        pytest.param("test.example.co.uk", True, id="test-subdomain"),
        pytest.param("staging.example.com/shop", True, id="staging-subdomain-path"),
        # Hosting companies' staging domains.
        pytest.param("mysite.wpengine.com", True, id="wpengine"),
        pytest.param("mysitestg.wpenginepowered.com", True, id="wpenginepowered"),
        pytest.param("staging-mysite.kinsta.cloud", True, id="kinsta-cloud-staging"),
        pytest.param("mysite.kinsta.cloud", True, id="kinsta-cloud"),
        pytest.param("mysite.kinsta.com", True, id="kinsta-com"),
        pytest.param("wordpress-123456-7890123.cloudwaysapps.com", True, id="cloudways"),
        pytest.param("dev-mysite.pantheonsite.io", True, id="pantheon"),
        pytest.param("mysite.flywheelsites.com", True, id="flywheel"),
        pytest.param("mysite.wpstagecoach.com", True, id="wpstagecoach"),
        pytest.param("brave-otter.instawp.xyz", True, id="instawp"),
        pytest.param("mysite.tempurl.host", True, id="tempurl"),
        pytest.param("a1b.c2d.myftpupload.com", True, id="godaddy"),
        pytest.param("mysite.lndo.site", True, id="lando"),
        pytest.param("mysite.ddev.site", True, id="ddev"),
        # Production.
        pytest.param("example.com", False, id="example-com"),
        pytest.param("shop.example.co.uk", False, id="second-level-tld"),
        pytest.param("example.com/shop", False, id="path"),
        pytest.param("developer.example.com", False, id="developer-is-not-dev"),
        pytest.param("testing.example.com", False, id="testing-is-not-test"),
        pytest.param("staging-example.com", False, id="hyphenated-domain"),
        pytest.param("stagingexample.com", False, id="prefix-without-dot"),
        pytest.param("dev.to", False, id="dev-registrable-domain"),
        pytest.param("test.com", False, id="test-registrable-domain"),
        pytest.param("shop.dev.example.com", False, id="dev-not-first-label"),
        pytest.param("example.com/staging", False, id="staging-in-path"),
        pytest.param("example.local.com", False, id="local-not-tld"),
        pytest.param("wpengine.com", False, id="hosting-company-itself"),
        pytest.param("mywpengine.com", False, id="hosting-name-without-dot"),
        pytest.param("xn--bcher-kva.de", False, id="punycode"),
        pytest.param("8.8.8.8", False, id="public-ipv4"),
        pytest.param("[2001:4860:4860::8888]", False, id="public-ipv6"),
        pytest.param("[::ffff:808:808]", False, id="ipv4-mapped-public"),
    ],
)
def test_staging_sites_are_told_from_production(site, staging):
    # When
    result = site_is_staging(site)

    # Then
    assert result is staging


@pytest.mark.parametrize(
    ("environment", "staging"),
    [
        pytest.param("staging", True, id="staging"),
        pytest.param("development", True, id="development"),
        pytest.param("local", True, id="local"),
        pytest.param("production", False, id="production"),
        pytest.param("Production", False, id="production-capitalised"),
        pytest.param(None, False, id="not-given"),
        pytest.param("", False, id="empty"),
    ],
)
def test_wordpress_environment_type_marks_staging(environment, staging):
    # When
    result = site_is_staging("example.com", environment=environment)

    # Then
    assert result is staging


def test_production_environment_does_not_hide_a_staging_host():
    # When
    result = site_is_staging("mysite.wpengine.com", environment="production")

    # Then
    assert result is True


def test_staging_is_judged_on_the_normalised_site():
    # Given
    site = site_normalise("https://www.Staging.Example.com:8443/shop/")

    # When
    result = site_is_staging(site)

    # Then
    assert result is True
