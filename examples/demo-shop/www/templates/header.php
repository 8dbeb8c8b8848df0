<header><a href="/">Tree Fund</a> &middot; <a href="/donate.php">Donate</a>
&middot; <a href="/inquiry.php">Contact</a> &middot; <a href="/admin/">Admin</a></header>
