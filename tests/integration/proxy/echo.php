<?php
// SPDX-License-Identifier: Apache-2.0
// The echo upstream of the proxy integration tests (run by php-fpm behind
// nginx, see harness.py). Answers JSON with the method, URI, request
// headers, body length and SHA-256 (read as a stream, so a 100 MiB body
// needs no memory), and the peer port nginx saw (the proxy's upstream
// connection). Query options: sleep=SECONDS before answering;
// path /stream: a chunked response of n chunks, delay seconds apart.
$uri = $_SERVER['REQUEST_URI'] ?? '';
$q = [];
parse_str($_SERVER['QUERY_STRING'] ?? '', $q);
if (isset($q['sleep'])) {
    usleep((int)(floatval($q['sleep']) * 1000000));
}
$path = parse_url($uri, PHP_URL_PATH) ?? '';
if (str_starts_with($path, '/stream')) {
    header('Content-Type: text/plain');
    $n = min(100, (int)($q['n'] ?? 4));
    $delay = floatval($q['delay'] ?? 0.2);
    for ($i = 0; $i < $n; $i++) {
        echo "chunk $i " . str_repeat('s', 100) . "\n";
        flush();
        if ($i + 1 < $n) {
            usleep((int)($delay * 1000000));
        }
    }
    exit;
}
$ctx = hash_init('sha256');
$len = 0;
$in = fopen('php://input', 'rb');
while (!feof($in)) {
    $b = fread($in, 1 << 16);
    if ($b === false || $b === '') {
        break;
    }
    hash_update($ctx, $b);
    $len += strlen($b);
}
header('Content-Type: application/json');
if (isset($q['status'])) {
    http_response_code((int)$q['status']);
}
echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'] ?? '',
    'uri' => $uri,
    'headers' => getallheaders(),
    'body_len' => $len,
    'body_sha256' => hash_final($ctx),
    'remote_port' => (int)($_SERVER['REMOTE_PORT'] ?? 0),
    'content_length' => $_SERVER['CONTENT_LENGTH'] ?? null,
]), "\n";
