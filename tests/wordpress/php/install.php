<?php
/** Install WordPress into the test site's empty database. */

define( 'WP_INSTALLING', true );
require __DIR__ . '/load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$result = wp_install( 'Depot client test', 'admin', 'admin@example.com', false, '', wp_generate_password( 20 ) );
update_option( 'permalink_structure', '' );
depot_test_answer(
	array(
		'user_id'    => $result['user_id'],
		'wp_version' => get_bloginfo( 'version' ),
		'home'       => get_option( 'home' ),
		'installed'  => is_blog_installed(),
	)
);
