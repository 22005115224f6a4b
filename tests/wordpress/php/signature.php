<?php
/**
 * Download the package argv[1] and its "<package>.sig", and check them with core's
 * verify_file_signature() against the key in argv[2] (through wp_trusted_keys, the only way
 * core takes keys). Also download_url( …, true ), the path core's upgrader takes.
 */

require __DIR__ . '/load.php';
require_once ABSPATH . 'wp-admin/includes/file.php';

$package = $argv[1];
$key     = $argv[2];
add_filter(
	'wp_trusted_keys',
	function () use ( $key ) {
		return array( $key ); // Only this one: wordpress.org's own key must not be what passes.
	},
	99
);

$file = download_url( $package, 60 );
if ( is_wp_error( $file ) ) {
	depot_test_answer( array( 'download' => depot_test_error( $file ) ) );
}
$sig = wp_safe_remote_get( $package . '.sig', array( 'timeout' => 15 ) );
$signatures = explode( "\n", trim( wp_remote_retrieve_body( $sig ) ) );
$filename   = basename( parse_url( $package, PHP_URL_PATH ) );
$verified   = verify_file_signature( $file, $signatures, $filename );
unlink( $file );

// The upgrader's way: download_url() fetches the .sig itself for hosts of wp_signature_hosts.
$checked = download_url( $package, 60, true );
if ( ! is_wp_error( $checked ) ) {
	unlink( $checked );
}

depot_test_answer(
	array(
		'sig_status'   => wp_remote_retrieve_response_code( $sig ),
		'signatures'   => $signatures,
		'verified'     => true === $verified ? true : depot_test_error( $verified ),
		'download_url' => is_wp_error( $checked ) ? depot_test_error( $checked ) : true,
	)
);
