<?php
// SPDX-License-Identifier: Apache-2.0
// The payment handler: sends the card to the (fake) gateway and records
// the order. It never stores card data: only the order id, the amount and
// the card's last four digits. This is the file a skimmer is planted in.
require __DIR__ . '/lib/shop.php';

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    header('Location: /donate.php');
    exit;
}
$number = preg_replace('/[ -]/', '', (string) ($_POST['cc_number'] ?? ''));
$expiry = trim((string) ($_POST['cc_exp'] ?? ''));
$cvc = trim((string) ($_POST['cc_cvc'] ?? ''));
$amount = (int) ($_POST['amount'] ?? 0);

$r = fake_gateway($number, $expiry, $cvc, $amount);
if ($r['status'] !== 'approved') {
    http_response_code(402);
    shop_header('Payment failed');
    echo '<p class="bad">' . shop_h($r['message']) . '</p>';
    shop_footer();
    exit;
}
$order = 'D-' . date('Ymd') . '-' . strtoupper(bin2hex(random_bytes(4)));
shop_append('orders.jsonl', [
    'order' => $order,
    'time' => date('c'),
    'amount' => $amount,
    'last4' => substr($number, -4),
    'auth' => $r['auth'],
]);
shop_header('Thank you');
echo '<p class="ok">Payment approved. Order ' . shop_h($order) . ', '
    . shop_h((string) $amount) . ' yen, card ending ' . shop_h(substr($number, -4)) . '.</p>';
shop_footer();
