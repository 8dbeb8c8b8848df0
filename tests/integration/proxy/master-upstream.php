<?php
// SPDX-License-Identifier: Apache-2.0
// Router script of `php -S` for tests/integration/proxy/master.sh: every
// path answers 200 with "ok PATH"; /slow?s=N answers "slow done" after N
// seconds (at most 10), for the drain test.
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?? '/';
header('Content-Type: text/plain');
if ($path === '/slow') {
    $s = min(10, max(0, (int)($_GET['s'] ?? 1)));
    sleep($s);
    echo "slow done\n";
    return true;
}
echo "ok $path\n";
return true;
