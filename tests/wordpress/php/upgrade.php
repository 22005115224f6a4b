<?php
/**
 * Update the plugin argv[1] with core's Plugin_Upgrader, as "Update now" does, from the
 * package named in the update_plugins transient; answer what it said and the version on disk.
 */

require __DIR__ . '/load.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';
require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';

$plugin_file = $argv[1];
if ( isset( $argv[2] ) ) {
	// Trust only this key instead of the vendor's (a package signed by another key must fail).
	add_filter(
		'wp_trusted_keys',
		function () use ( $argv ) {
			return array( $argv[2] );
		},
		99
	);
}
$was_active  = is_plugin_active( $plugin_file );
$skin        = new Automatic_Upgrader_Skin();
$upgrader    = new Plugin_Upgrader( $skin );
$result      = $upgrader->upgrade( $plugin_file );
// The upgrader deactivates the plugin; wp-admin's update screen then activates it again in a
// request of its own (update.php?action=activate-plugin), as this does.
$reactivated = ( true === $result && $was_active ) ? activate_plugin( $plugin_file, '', false, true ) : null;
$on_disk     = get_file_data( WP_PLUGIN_DIR . '/' . $plugin_file, array( 'Version' => 'Version' ) );
depot_test_answer(
	array(
		'result'   => is_wp_error( $result ) ? depot_test_error( $result ) : $result,
		'error'    => depot_test_error( $skin->result ),
		'messages' => array_values( array_map( 'wp_strip_all_tags', $skin->get_upgrade_messages() ) ),
		'version'  => $on_disk['Version'],
		'active'   => is_plugin_active( $plugin_file ),
		'reactivated' => depot_test_error( $reactivated ),
	)
);
