<?php
// SPDX-License-Identifier: Apache-2.0
// The admin page: orders and inquiries. VULNERABLE ON PURPOSE: inquiry
// messages are printed as stored, without escaping, so a message holding
// a <script> runs in the admin's browser (stored XSS, the way card
// skimmers got into shops in 2021).
require __DIR__ . '/../lib/shop.php';
shop_require_admin();
shop_header('Admin');
?>
<p><a href="/admin/template.php">Edit templates</a> &middot; <a href="/admin/logout.php">Log out</a></p>
<h2>Inquiries</h2>
<?php
foreach (array_reverse(shop_read('inquiries.jsonl')) as $q) {
    echo '<div class="inquiry"><p><b>' . shop_h((string) $q['name']) . '</b> &lt;'
        . shop_h((string) $q['email']) . '&gt; ' . shop_h((string) $q['time']) . "</p>\n";
    echo '<div class="message">' . $q['message'] . "</div></div>\n"; // no escaping: the flaw
}
?>
<h2>Orders</h2>
<table><tr><th>order</th><th>time</th><th>amount</th><th>card</th></tr>
<?php
foreach (array_reverse(shop_read('orders.jsonl')) as $o) {
    echo '<tr><td>' . shop_h((string) $o['order']) . '</td><td>' . shop_h((string) $o['time'])
        . '</td><td>' . shop_h((string) $o['amount']) . '</td><td>**** '
        . shop_h((string) $o['last4']) . "</td></tr>\n";
}
?>
</table>
<?php
shop_footer();
