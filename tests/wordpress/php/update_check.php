<?php
/** Ask for plugin updates as wp-admin does (core's wp_update_plugins()); answer the transient. */

require __DIR__ . '/load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

delete_site_transient( 'update_plugins' );
wp_update_plugins();
$transient = get_site_transient( 'update_plugins' );
depot_test_answer(
	array(
		'installed' => wp_list_pluck( get_plugins(), 'Version' ),
		'response'  => $transient->response ?? null,
		'no_update' => $transient->no_update ?? null,
	)
);
