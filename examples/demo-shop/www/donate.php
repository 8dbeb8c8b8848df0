<?php
// SPDX-License-Identifier: Apache-2.0
// The donation form: card fields posted to the payment handler.
require __DIR__ . '/lib/shop.php';
shop_header('Donate');
?>
<form method="post" action="/payment.php" autocomplete="off">
<label>Amount (yen) <input name="amount" value="500" inputmode="numeric"></label>
<label>Name on card <input name="cc_name"></label>
<label>Card number <input name="cc_number" inputmode="numeric" placeholder="4111 1111 1111 1111"></label>
<label>Expiry (MM/YY) <input name="cc_exp" placeholder="12/30"></label>
<label>CVC <input name="cc_cvc" inputmode="numeric" size="4"></label>
<button>Donate</button>
</form>
<?php
shop_footer();
