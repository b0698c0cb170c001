<?php
// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Sends one message the way Laravel does, from the .env the laravel preset wrote, with Symfony
// Mailer (Debian's php-symfony-mailer), Laravel's mail library. No Laravel in Debian, so this
// mirrors Laravel's own steps:
// - the .env is read by phpdotenv (Debian's php-vlucas-phpdotenv), as Laravel's bootstrap does,
//   and each value passes through Laravel's env() helper (Illuminate\Support\Env::get):
//   true/false/empty/null, bare or in parentheses, become PHP values; a value wrapped in quotes
//   loses them;
// - config/mail.php (Laravel 11 and later) maps MAIL_* to the smtp mailer's config: scheme,
//   host, port, username, password, local_domain; from address and name;
// - Illuminate\Mail\MailManager::createSmtpTransport builds the transport from that config: the
//   scheme is MAIL_SCHEME, else smtps on port 465 and smtp otherwise, then Symfony's
//   EsmtpTransportFactory makes it from a Dsn of (scheme, host, username, password, port, config).
//   Laravel 10 and older derived the scheme from MAIL_ENCRYPTION instead; for every value the
//   preset writes (tls with 587, ssl with 465) and for none, the scheme comes out the same.
// Symfony then upgrades with STARTTLS whenever the server offers it, and logs in only when a
// username is set.
//
// Usage: php laravel_send.php ENV_FILE TO SUBJECT
// Exit 0 when Symfony Mailer reports the message sent; 1 with its error; 2 when the file does not
// configure the smtp mailer.

require '/usr/share/php/Dotenv/autoload.php';
require '/usr/share/php/Symfony/Component/Mailer/autoload.php';

use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Transport\Dsn;
use Symfony\Component\Mailer\Transport\Smtp\EsmtpTransportFactory;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;

// Illuminate\Support\Env::get, on the values phpdotenv read.
function laravel_env(array $env, string $key, $default = null)
{
    if (!array_key_exists($key, $env)) {
        return $default;
    }
    $value = $env[$key];
    switch (strtolower($value)) {
        case 'true':
        case '(true)':
            return true;
        case 'false':
        case '(false)':
            return false;
        case 'empty':
        case '(empty)':
            return '';
        case 'null':
        case '(null)':
            return null;
    }
    if (preg_match('/\A([\'"])(.*)\1\z/', $value, $matches)) {
        return $matches[2];
    }
    return $value;
}

// config/mail.php: the smtp mailer and the global from.
function laravel_mail_config(array $env): array
{
    $appHost = parse_url(laravel_env($env, 'APP_URL', 'http://localhost'), PHP_URL_HOST);
    return [
        'default' => laravel_env($env, 'MAIL_MAILER', 'log'),
        'smtp' => [
            'transport' => 'smtp',
            'scheme' => laravel_env($env, 'MAIL_SCHEME'),
            'url' => laravel_env($env, 'MAIL_URL'),
            'host' => laravel_env($env, 'MAIL_HOST', '127.0.0.1'),
            'port' => laravel_env($env, 'MAIL_PORT', 2525),
            'username' => laravel_env($env, 'MAIL_USERNAME'),
            'password' => laravel_env($env, 'MAIL_PASSWORD'),
            'timeout' => null,
            'local_domain' => laravel_env($env, 'MAIL_EHLO_DOMAIN', $appHost),
        ],
        'from' => [
            'address' => laravel_env($env, 'MAIL_FROM_ADDRESS', 'hello@example.com'),
            'name' => laravel_env($env, 'MAIL_FROM_NAME', 'Example'),
        ],
    ];
}

// MailManager::createSmtpTransport.
function laravel_smtp_transport(array $config)
{
    $scheme = $config['scheme'] ?? null;
    if (!$scheme) {
        $scheme = ((int) $config['port'] === 465) ? 'smtps' : 'smtp';
    }
    return (new EsmtpTransportFactory())->create(new Dsn(
        $scheme,
        $config['host'],
        $config['username'] ?? null,
        $config['password'] ?? null,
        isset($config['port']) ? (int) $config['port'] : null,
        $config
    ));
}

if ($argc !== 4) {
    fwrite(STDERR, "usage: php laravel_send.php ENV_FILE TO SUBJECT\n");
    exit(2);
}
$env = Dotenv\Dotenv::createArrayBacked(dirname($argv[1]), basename($argv[1]))->load();
$mail = laravel_mail_config($env);
if ($mail['default'] !== 'smtp') {
    fwrite(STDERR, "MAIL_MAILER is not smtp: Laravel would not send through SMTP\n");
    exit(2);
}
if ($mail['smtp']['url'] !== null) {
    fwrite(STDERR, "MAIL_URL is set: this sender does not mirror Laravel's URL parsing\n");
    exit(2);
}
$email = (new Email())
    ->from(new Address($mail['from']['address'], (string) $mail['from']['name']))
    ->to($argv[2])
    ->subject($argv[3])
    ->text("sent by Symfony Mailer with Laravel's MAIL_* settings\n");
try {
    $sent = laravel_smtp_transport($mail['smtp'])->send($email);
} catch (TransportExceptionInterface $e) {
    fwrite(STDERR, 'laravel: mail not sent: ' . $e->getMessage() . "\n");
    exit(1);
}
if ($sent === null) {
    fwrite(STDERR, "laravel: the transport sent nothing\n");
    exit(1);
}
echo "sent\n";
