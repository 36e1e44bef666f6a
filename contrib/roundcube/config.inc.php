<?php
// Roundcube 1.6 settings for webmail on StrataMail Continuity during an
// outage. Merge them into your Roundcube's config.inc.php (Debian:
// /etc/roundcube/config.inc.php, which also includes the database
// settings). Every key not set here keeps Roundcube's default
// (defaults.inc.php). contrib/e2e/roundcube.sh proves these settings in
// a browser against a real StrataMail.
$config = [];

// IMAP: StrataMail's imapd. Roundcube on the same host: a loopback
// listener in stratamail.toml,
//     [imap]
//     listen = ["127.0.0.1:143"]
//     allow_insecure_auth = true
// and no scheme here (no TLS on loopback). Roundcube on another host:
// give StrataMail a [tls] certificate and use implicit TLS ([imap]
// tls_listen = ["0.0.0.0:993"]) or STARTTLS on 143:
//     $config['imap_host'] = 'ssl://mx2.example.net:993';
// or  $config['imap_host'] = 'tls://mx2.example.net:143';
$config['imap_host'] = '127.0.0.1:143';

// Users log in with their full address (the [[user]] address). To let
// them type only the local part, name the domain:
// $config['username_domain'] = 'example.com';

// Sending replies: StrataMail's submission service, logging in with the
// user's own IMAP credentials. On loopback without TLS (the listener's
// allow_insecure_auth), or 'tls://mx2.example.net:587' from elsewhere.
$config['smtp_host'] = '127.0.0.1:587';
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';

// StrataMail creates these folders, with their SPECIAL-USE attributes,
// at a user's first login; the names are Roundcube's defaults too.
$config['drafts_mbox'] = 'Drafts';
$config['sent_mbox'] = 'Sent';
$config['junk_mbox'] = 'Junk';
$config['trash_mbox'] = 'Trash';
$config['create_default_folders'] = false;

// Delete moves to Trash; emptying Trash expunges.
$config['flag_for_deletion'] = false;
$config['skip_deleted'] = false;

// Newest first by date. StrataMail sorts on the server (SORT, from its
// list cache), however Roundcube connects.
$config['message_sort_col'] = 'date';
$config['message_sort_order'] = 'DESC';

// How often the open folder is checked for new mail, in seconds. Every
// check is a new IMAP login (Roundcube logs in for each request).
$config['refresh_interval'] = 60;

// Set a random 24-character key of your own.
$config['des_key'] = 'change-me-24-characters!';

// stratamail_client_ip (contrib/roundcube/plugins: copy the folder into
// Roundcube's plugins/) names each browser's address to StrataMail, so
// that wrong passwords typed in the webmail lock out the browser that
// typed them, not the user for everyone (see the README, Webmail).
$config['plugins'] = ['stratamail_client_ip'];
$config['skin'] = 'elastic';
