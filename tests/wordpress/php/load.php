<?php
/**
 * Load the test site whose folder is in DEPOT_WP_SITE (its own wp-config.php, core from
 * Debian's /usr/share/wordpress), and give the step scripts one way to answer: a JSON line.
 *
 * Never through core's wp-load.php: Debian's wp-config.php there reads /etc/wordpress.
 */

$depot_site = getenv( 'DEPOT_WP_SITE' );
if ( ! $depot_site || ! is_file( $depot_site . '/wp-config.php' ) ) {
	fwrite( STDERR, "DEPOT_WP_SITE does not name a test site\n" );
	exit( 2 );
}
// What a web request would have set; core reads these here and there.
$_SERVER['HTTP_HOST']       = parse_url( getenv( 'DEPOT_WP_HOME' ), PHP_URL_HOST );
$_SERVER['SERVER_NAME']     = $_SERVER['HTTP_HOST'];
$_SERVER['REQUEST_URI']     = '/wp-admin/update-core.php';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';

require $depot_site . '/wp-config.php';

/** Print the step's result as the last line of stdout, where the test reads it. */
function depot_test_answer( $result ) {
	echo "\nDEPOT-RESULT " . json_encode( $result, JSON_UNESCAPED_SLASHES ) . "\n";
	exit( 0 );
}

/** A WP_Error as data the test can assert on. */
function depot_test_error( $error ) {
	return is_wp_error( $error )
		? array( 'code' => $error->get_error_code(), 'message' => $error->get_error_message(), 'codes' => $error->get_error_codes() )
		: null;
}
