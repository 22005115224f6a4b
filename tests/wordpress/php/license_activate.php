<?php
/**
 * Activate the key in argv[2] for the plugin slug argv[1] as docs/clients/README.md shows
 * ("Activating a license"): POST /updates/v1/licenses/activate, then store the key where the
 * client reads it and drop the cached answers.
 */

require __DIR__ . '/load.php';

$slug     = $argv[1];
$key      = $argv[2];
$base     = DEPOT_TEST_UPDATES_URL;
$response = wp_remote_post(
	$base . '/updates/v1/licenses/activate',
	array(
		'timeout' => 15,
		'headers' => array( 'Content-Type' => 'application/json' ),
		'body'    => wp_json_encode(
			array(
				'license_key' => $key,
				'slug'        => $slug,
				'site_url'    => home_url( '/' ),
				'environment' => wp_get_environment_type(),
			)
		),
	)
);
$status = wp_remote_retrieve_response_code( $response );
$body   = json_decode( wp_remote_retrieve_body( $response ), true );
if ( 200 === $status ) {
	update_option( "{$slug}_license_key", $key );
	delete_site_transient( 'depot_updates_' . md5( $base ) );
	delete_site_transient( 'update_plugins' );
}
depot_test_answer( array( 'status' => $status, 'body' => $body, 'error' => depot_test_error( $response ) ) );
