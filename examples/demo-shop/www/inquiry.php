<?php
// SPDX-License-Identifier: Apache-2.0
// The inquiry form. Messages are stored as they were typed; the admin
// page shows them WITHOUT escaping (the deliberate stored XSS).
require __DIR__ . '/lib/shop.php';

if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $msg = (string) ($_POST['message'] ?? '');
    if ($msg === '' || strlen($msg) > 4000) {
        http_response_code(400);
        shop_header('Contact');
        echo '<p class="bad">A message of 1 to 4000 bytes, please.</p>';
        shop_footer();
        exit;
    }
    shop_append('inquiries.jsonl', [
        'time' => date('c'),
        'name' => substr((string) ($_POST['name'] ?? ''), 0, 200),
        'email' => substr((string) ($_POST['email'] ?? ''), 0, 200),
        'message' => $msg,
    ]);
    shop_header('Thank you');
    echo '<p class="ok">Your message was sent. We answer within two days.</p>';
    shop_footer();
    exit;
}
shop_header('Contact');
?>
<form method="post" action="/inquiry.php">
<label>Name <input name="name"></label>
<label>Email <input name="email"></label>
<label>Message<br><textarea name="message" rows="6" cols="50"></textarea></label>
<button>Send</button>
</form>
<?php
shop_footer();
