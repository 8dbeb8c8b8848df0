<footer>Tree Fund &mdash; a deliberately vulnerable demo shop. Loopback only.</footer>
