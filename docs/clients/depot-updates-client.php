<?php
/**
 * Depot updates client: WordPress's own update check (5.8+), answered by a Depot updates host.
 *
 * In a plugin whose header names the updates host,
 *
 *     Update URI: https://updates.example.com/formwell
 *
 * load this file and register it for that host name:
 *
 *     require_once __DIR__ . '/depot-updates-client.php';
 *     add_filter( 'update_plugins_updates.example.com', 'depot_updates_check', 10, 4 );
 *
 * One POST /updates/v1/check per request answers for every installed plugin of that host,
 * cached for 12 hours or until a version or a license key changes. A plugin's key is its
 * option "<slug>_license_key", unless the filter "depot_license_key_<slug>" says otherwise:
 *
 *     add_filter( 'depot_license_key_formwell', fn () => get_option( 'formwell' )['key'] ?? '' );
 *
 * Nothing is verified here. Packages are signed (Ed25519 over their SHA-384, at "<package
 * URL>.sig"); WordPress's download_url() checks that signature against the keys of
 * wp_trusted_keys for the hosts of wp_signature_hosts (docs/clients/README.md, "Signatures").
 */

if ( ! function_exists( 'depot_updates_check' ) ) {
	/** Answer update_plugins_{hostname} for one plugin: its update, or what we were given. */
	function depot_updates_check( $update, $plugin_data, $plugin_file, $locales ) {
		if ( false !== $update || empty( $plugin_data['UpdateURI'] ) ) {
			return $update;
		}
		$answer = depot_updates_fetch( $plugin_data['UpdateURI'] );
		foreach ( array( 'plugins', 'no_update' ) as $section ) {
			if ( isset( $answer[ $section ][ $plugin_file ]['new_version'] ) ) {
				$item            = $answer[ $section ][ $plugin_file ];
				$item['version'] = $item['new_version']; // Core requires "version".
				return $item;
			}
		}
		return $update;
	}

	/** Ask the host of $update_uri about all of its plugins at once: one request, then cached. */
	function depot_updates_fetch( $update_uri ) {
		static $answers = array();
		$url = wp_parse_url( $update_uri );
		if ( empty( $url['host'] ) ) {
			return array();
		}
		$base = ( $url['scheme'] ?? 'https' ) . '://' . $url['host'] . ( isset( $url['port'] ) ? ':' . $url['port'] : '' );
		if ( isset( $answers[ $base ] ) ) {
			return $answers[ $base ];
		}
		if ( ! function_exists( 'get_plugins' ) ) {
			require_once ABSPATH . 'wp-admin/includes/plugin.php';
		}
		$plugins  = array();
		$licenses = array();
		foreach ( get_plugins() as $file => $headers ) {
			if ( empty( $headers['UpdateURI'] ) || wp_parse_url( $headers['UpdateURI'], PHP_URL_HOST ) !== $url['host'] ) {
				continue;
			}
			$slug              = '.' === dirname( $file ) ? basename( $file, '.php' ) : dirname( $file );
			$plugins[ $file ]  = array( 'Name' => $headers['Name'], 'Version' => $headers['Version'] );
			$licenses[ $file ] = trim( (string) apply_filters( "depot_license_key_{$slug}", get_option( "{$slug}_license_key", '' ) ) );
		}
		// One transient per host (README: delete it after a license change), valid for these
		// versions and keys only.
		$cache_key   = 'depot_updates_' . md5( $base );
		$fingerprint = md5( wp_json_encode( array( $plugins, $licenses ) ) );
		$cached      = get_site_transient( $cache_key );
		if ( is_array( $cached ) && $fingerprint === $cached[0] ) {
			$answers[ $base ] = $cached[1];
			return $cached[1];
		}
		$response = wp_remote_post(
			$base . '/updates/v1/check',
			array(
				'timeout' => 10,
				'headers' => array( 'Content-Type' => 'application/json' ),
				'body'    => wp_json_encode(
					array(
						'plugins'     => $plugins,
						'active'      => array_values( array_intersect( array_keys( $plugins ), (array) get_option( 'active_plugins', array() ) ) ),
						'licenses'    => $licenses,
						'site_url'    => home_url( '/' ),
						'wp_version'  => get_bloginfo( 'version' ),
						'php_version' => PHP_VERSION,
						'locale'      => get_locale(),
					)
				),
			)
		);
		$answer = json_decode( wp_remote_retrieve_body( $response ), true );
		$ok     = 200 === wp_remote_retrieve_response_code( $response ) && is_array( $answer );
		$answer = $ok ? $answer : array();
		// Package links expire after 24 hours (DEPOT_DOWNLOAD_TOKEN_HOURS): keep answers for 12 at most.
		set_site_transient( $cache_key, array( $fingerprint, $answer ), $ok ? 12 * HOUR_IN_SECONDS : HOUR_IN_SECONDS );
		$answers[ $base ] = $answer;
		return $answer;
	}
}
