<?php
// SPDX-License-Identifier: Apache-2.0
// The template editor. DANGEROUS ON PURPOSE: an admin (or whoever holds
// the admin's session, e.g. through the stored XSS) can write any file
// under the web root, PHP included. That is how a skimmer gets planted.
require __DIR__ . '/../lib/shop.php';
shop_require_admin();

$root = realpath(__DIR__ . '/..');
$name = (string) ($_REQUEST['file'] ?? 'templates/footer.php');
$msg = '';
// The only check: the file must stay under the web root.
$path = $root . '/' . ltrim($name, '/');
$dir = realpath(dirname($path));
if ($dir === false || ($dir !== $root && !str_starts_with($dir, $root . '/'))) {
    http_response_code(400);
    $msg = 'the file must be under the web root';
} elseif ($_SERVER['REQUEST_METHOD'] === 'POST') {
    file_put_contents($path, (string) ($_POST['content'] ?? ''));
    $msg = 'saved ' . $name;
}
shop_header('Edit templates');
if ($msg !== '') {
    echo '<p>' . shop_h($msg) . '</p>';
}
$content = is_file($path) ? (string) file_get_contents($path) : '';
?>
<form method="get" action="/admin/template.php">
<label>File <input name="file" value="<?= shop_h($name) ?>" size="40"></label>
<button>Open</button>
</form>
<form method="post" action="/admin/template.php">
<input type="hidden" name="file" value="<?= shop_h($name) ?>">
<textarea name="content" rows="16" cols="70"><?= shop_h($content) ?></textarea><br>
<button>Save</button>
</form>
<?php
shop_footer();
