<?php
// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Sends one message the way Nextcloud does, from its config directory, with Symfony Mailer
// (Debian's php-symfony-mailer), which Nextcloud's mailer uses. No Nextcloud in Debian, so this
// mirrors Nextcloud's own steps:
// - OC\Config::readData: config.php, then every *.config.php of the directory in sorted order,
//   each included for its $CONFIG, merged with array_replace_recursive (the nextcloud preset
//   writes a dedicated smtp.config.php);
// - OC\Mail\Mailer::getSmtpInstance: new EsmtpTransport(mail_smtphost, mail_smtpport, true when
//   mail_smtpsecure is 'ssl' else null, ...), the stream timeout mail_smtptimeout (10), username
//   and password only when mail_smtpauth, mail_smtpstreamoptions merged into the stream options,
//   the local domain from overwrite.cli.url; with the getSystemValueString/Int/Bool casts;
// - OCP\Util::getDefaultEmailAddress('no-reply'): mail_from_address '@' mail_domain.
// Symfony then upgrades with STARTTLS whenever the server offers it.
//
// Usage: php nextcloud_send.php CONFIG_FILE TO SUBJECT   (its directory is read, as Nextcloud does)
// Exit 0 when Symfony Mailer reports the message sent; 1 with its error; 2 when the config does
// not send through SMTP.

require '/usr/share/php/Symfony/Component/Mailer/autoload.php';

use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\Smtp\EsmtpTransport;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;

function nextcloud_config(string $dir): array
{
    $files = [];
    if (is_file($dir . '/config.php')) {
        $files[] = $dir . '/config.php';
    }
    $extra = glob($dir . '/*.config.php') ?: [];
    sort($extra);
    $merged = [];
    foreach (array_merge($files, $extra) as $file) {
        $CONFIG = null;
        include $file;
        if (isset($CONFIG) && is_array($CONFIG)) {
            $merged = array_replace_recursive($merged, $CONFIG);
        }
    }
    return $merged;
}

// Mailer::getSmtpInstance.
function nextcloud_smtp_transport(array $c): EsmtpTransport
{
    $secure = (($c['mail_smtpsecure'] ?? null) === 'ssl') ? true : null;
    $transport = new EsmtpTransport(
        (string) ($c['mail_smtphost'] ?? '127.0.0.1'),
        (int) ($c['mail_smtpport'] ?? 25),
        $secure
    );
    $stream = $transport->getStream();
    $stream->setTimeout((int) ($c['mail_smtptimeout'] ?? 10));
    if ((bool) ($c['mail_smtpauth'] ?? false)) {
        $transport->setUsername((string) ($c['mail_smtpname'] ?? ''));
        $transport->setPassword((string) ($c['mail_smtppassword'] ?? ''));
    }
    $streamingOptions = $c['mail_smtpstreamoptions'] ?? [];
    if (is_array($streamingOptions) && !empty($streamingOptions)) {
        $stream->setStreamOptions(array_merge_recursive($stream->getStreamOptions(), $streamingOptions));
    }
    $overwriteCliUrl = parse_url((string) ($c['overwrite.cli.url'] ?? ''), PHP_URL_HOST);
    if (!empty($overwriteCliUrl)) {
        $transport->setLocalDomain($overwriteCliUrl);
    }
    return $transport;
}

if ($argc !== 4) {
    fwrite(STDERR, "usage: php nextcloud_send.php CONFIG_FILE TO SUBJECT\n");
    exit(2);
}
$c = nextcloud_config(dirname($argv[1]));
if ((string) ($c['mail_smtpmode'] ?? 'smtp') !== 'smtp') {
    fwrite(STDERR, "mail_smtpmode is not smtp: Nextcloud would not send through SMTP\n");
    exit(2);
}
$from = (string) ($c['mail_from_address'] ?? 'no-reply') . '@' . (string) ($c['mail_domain'] ?? 'localhost');
$email = (new Email())
    ->from(new Address($from, 'Nextcloud'))
    ->to($argv[2])
    ->subject($argv[3])
    ->text("sent by Symfony Mailer with Nextcloud's mail_smtp* settings\n");
try {
    (new Mailer(nextcloud_smtp_transport($c)))->send($email);
} catch (TransportExceptionInterface $e) {
    fwrite(STDERR, 'nextcloud: mail not sent: ' . $e->getMessage() . "\n");
    exit(1);
}
echo "sent\n";
