<?php
// SPDX-License-Identifier: Apache-2.0
// The demo shop's shared code: where data lives, the admin session, the
// fake payment gateway and the page frame. DELIBERATELY VULNERABLE demo
// (see ../../README.md): loopback only, never deploy.
declare(strict_types=1);

// Data (orders, inquiries, sessions) lives outside the web root, in the
// directory named by SHOP_DATA (set by scripts/demo and the e2e test).
function shop_data_dir(): string
{
    $d = getenv('SHOP_DATA');
    if ($d === false || $d === '') {
        $d = dirname(__DIR__, 2) . '/data';
    }
    if (!is_dir($d)) {
        mkdir($d, 0700, true);
    }
    return $d;
}

function shop_session(): void
{
    if (session_status() !== PHP_SESSION_ACTIVE) {
        session_save_path(shop_data_dir());
        session_name('shopsid');
        session_start();
    }
}

function shop_is_admin(): bool
{
    shop_session();
    return ($_SESSION['admin'] ?? false) === true;
}

function shop_require_admin(): void
{
    if (!shop_is_admin()) {
        header('Location: /admin/login.php');
        exit;
    }
}

// The one admin account: user "admin", password from SHOP_ADMIN_PASSWORD.
function shop_check_login(string $user, string $pass): bool
{
    $want = getenv('SHOP_ADMIN_PASSWORD');
    if ($want === false || $want === '') {
        return false; // no password configured: nobody logs in
    }
    return hash_equals('admin', $user) && hash_equals($want, $pass);
}

function shop_h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

// Appends one JSON line to a data file, under an exclusive lock.
function shop_append(string $name, array $rec): void
{
    $f = fopen(shop_data_dir() . '/' . $name, 'ab');
    if ($f === false) {
        throw new RuntimeException("cannot open $name");
    }
    flock($f, LOCK_EX);
    fwrite($f, json_encode($rec, JSON_UNESCAPED_SLASHES) . "\n");
    fflush($f);
    flock($f, LOCK_UN);
    fclose($f);
}

// Every record of a data file, oldest first.
function shop_read(string $name): array
{
    $path = shop_data_dir() . '/' . $name;
    if (!is_file($path)) {
        return [];
    }
    $out = [];
    foreach (file($path, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
        $r = json_decode($line, true);
        if (is_array($r)) {
            $out[] = $r;
        }
    }
    return $out;
}

function shop_luhn(string $digits): bool
{
    $sum = 0;
    $alt = false;
    for ($i = strlen($digits) - 1; $i >= 0; $i--) {
        $d = ord($digits[$i]) - 48;
        if ($alt) {
            $d *= 2;
            if ($d > 9) {
                $d -= 9;
            }
        }
        $sum += $d;
        $alt = !$alt;
    }
    return $sum % 10 === 0;
}

// The fake payment gateway. A real shop would send the card to its
// payment provider here; this one approves every well-formed test card
// (a Luhn-valid number, a future expiry MM/YY, a 3-4 digit CVC), except
// numbers ending in 0002, which it declines like a real test gateway. It
// keeps nothing and charges nothing.
function fake_gateway(string $number, string $expiry, string $cvc, int $amount): array
{
    if (!preg_match('/^[0-9]{13,19}$/', $number) || !shop_luhn($number)) {
        return ['status' => 'error', 'message' => 'invalid card number'];
    }
    if (!preg_match('#^(0[1-9]|1[0-2])/([0-9]{2})$#', $expiry, $m)) {
        return ['status' => 'error', 'message' => 'expiry must be MM/YY'];
    }
    $end = mktime(0, 0, 0, (int) $m[1] + 1, 1, 2000 + (int) $m[2]);
    if ($end <= time()) {
        return ['status' => 'declined', 'message' => 'card expired'];
    }
    if (!preg_match('/^[0-9]{3,4}$/', $cvc)) {
        return ['status' => 'error', 'message' => 'invalid CVC'];
    }
    if ($amount < 1 || $amount > 100000) {
        return ['status' => 'error', 'message' => 'amount out of range'];
    }
    if (str_ends_with($number, '0002')) {
        return ['status' => 'declined', 'message' => 'declined by the issuer'];
    }
    return ['status' => 'approved', 'auth' => strtoupper(bin2hex(random_bytes(3)))];
}

function shop_header(string $title): void
{
    echo "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    echo '<title>' . shop_h($title) . " - Tree Fund</title>\n";
    echo "<link rel=\"stylesheet\" href=\"/style.css\"></head><body>\n";
    include __DIR__ . '/../templates/header.php';
    echo '<main><h1>' . shop_h($title) . "</h1>\n";
}

function shop_footer(): void
{
    echo "</main>\n";
    include __DIR__ . '/../templates/footer.php';
    echo "</body></html>\n";
}
