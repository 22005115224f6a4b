<?php
/** Activate the plugin named in argv[1] as an admin would (it then loads on every request). */

require __DIR__ . '/load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$result = activate_plugin( $argv[1] );
depot_test_answer(
	array(
		'error'   => depot_test_error( $result ),
		'active'  => is_plugin_active( $argv[1] ),
		'headers' => get_plugin_data( WP_PLUGIN_DIR . '/' . $argv[1], false, false ),
	)
);
