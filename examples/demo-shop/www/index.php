<?php
// SPDX-License-Identifier: Apache-2.0
// The product page: one thing to donate to.
require __DIR__ . '/lib/shop.php';
shop_header('Plant a tree');
?>
<p>Every 500 yen plants one sapling in the hills above the town. We plant
in spring and send every donor a photo of their tree.</p>
<p><a href="/donate.php">Donate now</a> or <a href="/inquiry.php">ask us a question</a>.</p>
<?php
shop_footer();
