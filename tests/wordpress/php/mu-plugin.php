<?php
/**
 * Plugin Name: Depot test harness
 * Description: Keeps the test site on this machine and lets it reach the Depot server the test started.
 *
 * The site's constants come from its wp-config.php, written by tests/wordpress/conftest.py.
 */

/*
 * Only the Depot server the test started (and the S3 endpoint its downloads redirect to, on
 * the same loopback address) is reached. wordpress.org's plugin API answers "nothing new"
 * from here: core's wp_update_plugins() asks it first and returns, never consulting the
 * Update URI filters, when it cannot be reached. Anything else fails at once.
 */
add_filter(
	'pre_http_request',
	function ( $preempt, $args, $url ) {
		$host = wp_parse_url( $url, PHP_URL_HOST );
		if ( in_array( $host, depot_test_loopback_hosts(), true ) ) {
			return $preempt;
		}
		if ( 'api.wordpress.org' === $host && false !== strpos( $url, '/plugins/update-check/' ) ) {
			return array(
				'headers'  => array(),
				'body'     => wp_json_encode( array( 'plugins' => array(), 'translations' => array(), 'no_update' => array() ) ),
				'response' => array( 'code' => 200, 'message' => 'OK' ),
				'cookies'  => array(),
				'filename' => null,
			);
		}
		return new WP_Error( 'depot_test_offline', "The test site reaches only the test's Depot server, not {$host}." );
	},
	10,
	3
);

function depot_test_loopback_hosts() {
	return array( wp_parse_url( DEPOT_TEST_UPDATES_URL, PHP_URL_HOST ), '127.0.0.1', 'localhost' );
}

/*
 * Core downloads packages with wp_safe_remote_get(), which refuses loopback and private
 * addresses (wp_http_validate_url()) and any port but 80, 443 and 8080. A real updates host
 * is public on 443; the test's live server is on 127.0.0.1 at a free port, so allow exactly
 * that here, for the test site only.
 */
add_filter(
	'http_request_host_is_external',
	function ( $external, $host ) {
		return $external || in_array( $host, depot_test_loopback_hosts(), true );
	},
	10,
	2
);
add_filter(
	'http_allowed_safe_ports',
	function ( $ports, $host ) {
		if ( in_array( $host, depot_test_loopback_hosts(), true ) ) {
			$ports = array_merge( (array) $ports, array_map( 'intval', explode( ',', DEPOT_TEST_LOOPBACK_PORTS ) ) );
		}
		return $ports;
	},
	10,
	2
);

/*
 * What docs/clients/README.md ("Signatures") tells a vendor to add: trust Depot's public key
 * (from `manage.py signing_key --public`), check packages from its host, and make a failed
 * check final.
 */
add_filter(
	'wp_trusted_keys',
	function ( $keys ) {
		$keys[] = DEPOT_TEST_PUBLIC_KEY;
		return $keys;
	}
);
add_filter(
	'wp_signature_hosts',
	function ( $hosts ) {
		$hosts[] = wp_parse_url( DEPOT_TEST_UPDATES_URL, PHP_URL_HOST );
		return $hosts;
	}
);
add_filter(
	'wp_signature_softfail',
	function ( $softfail, $url ) {
		return $softfail && wp_parse_url( DEPOT_TEST_UPDATES_URL, PHP_URL_HOST ) !== wp_parse_url( $url, PHP_URL_HOST );
	},
	10,
	2
);
