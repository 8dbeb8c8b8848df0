<?php
// SPDX-License-Identifier: Apache-2.0
require __DIR__ . '/../lib/shop.php';
shop_session();
$_SESSION = [];
session_destroy();
header('Location: /');
