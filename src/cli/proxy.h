/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori proxy`: runs the WAF reverse proxy (or checks its
 * configuration with -t), and `sekimori proxy ctl` talks to a running
 * one through its control socket. See docs/proxy.md.
 */
#ifndef SK_CLI_PROXY_H
#define SK_CLI_PROXY_H

/*
 * Runs `sekimori proxy ...` with argv[0] = "proxy". Returns an enum
 * sk_exit (cli/cli.h): 0 success (a graceful stop, a good check, an
 * accepted control request), 1 the running proxy refused the request or
 * cannot be reached, 2 usage or configuration error, 3 internal error.
 * Blocks: the proxy runs until SIGTERM; ctl waits for the reply (up to
 * 120 s for a reload, 10 s otherwise).
 */
int sk_cli_proxy(int argc, char **argv);

#endif
