<?php

/**
 * stratamail_client_ip: names the browser's address to StrataMail.
 *
 * Roundcube logs every user in to IMAP from the webmail host, so
 * StrataMail's login limits would count all of a user's webmail logins
 * as coming from one place: someone typing wrong passwords under
 * alice's name in the webmail would lock alice out of the webmail.
 * With this plugin Roundcube sends, before logging in, an IMAP ID
 * command with the "x-originating-ip" parameter (RFC 2971), and
 * StrataMail counts failed logins against that address instead. It
 * takes the parameter only from a webmail on its own host (loopback).
 *
 * Install: copy this folder into Roundcube's plugins/ folder and add
 * 'stratamail_client_ip' to $config['plugins'].
 */
class stratamail_client_ip extends rcube_plugin
{
    public function init()
    {
        $this->add_hook('storage_connect', [$this, 'name_client']);
    }

    public function name_client($args)
    {
        // remote_addr() honours Roundcube's proxy_whitelist.
        $ident = isset($args['preauth_ident']) ? (array) $args['preauth_ident'] : [];
        $ident['x-originating-ip'] = rcube_utils::remote_addr();
        $args['preauth_ident'] = $ident;

        return $args;
    }
}
