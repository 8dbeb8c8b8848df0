<?php
// SPDX-License-Identifier: Apache-2.0
// The admin login: one account, user "admin", password from the
// SHOP_ADMIN_PASSWORD environment variable.
require __DIR__ . '/../lib/shop.php';
shop_session();
$bad = false;
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    if (shop_check_login((string) ($_POST['user'] ?? ''), (string) ($_POST['password'] ?? ''))) {
        session_regenerate_id(true);
        $_SESSION['admin'] = true;
        header('Location: /admin/');
        exit;
    }
    $bad = true;
    http_response_code(401);
}
shop_header('Admin login');
if ($bad) {
    echo '<p class="bad">Wrong user or password.</p>';
}
?>
<form method="post" action="/admin/login.php">
<label>User <input name="user" value="admin"></label>
<label>Password <input name="password" type="password"></label>
<button>Log in</button>
</form>
<?php
shop_footer();
