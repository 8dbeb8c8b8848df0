/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori log`: the command line of the event log. Each subcommand parses
 * its options, calls src/evlog, and maps the result to the documented exit
 * codes (cli/cli.h): 0 ok, 1 verification failed or a record was refused,
 * 2 usage, 3 internal or I/O error.
 */
#include "cli/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "evlog/evlog.h"
#include "util/error.h"

static volatile int stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

enum {
    O_DIR = 256,
    O_KEY,
    O_SOCKET,
    O_DURABILITY,
    O_GROUP_MS,
    O_CP_EVERY,
    O_CP_SECS,
    O_SEG_MB,
    O_SEG_SECS,
    O_SYSLOG,
    O_ALLOW_UID,
    O_KEEP,
    O_COMPRESS,
    O_SOURCE,
    O_TYPE,
    O_PUBKEY,
    O_TRUSTED,
    O_STRICT,
    O_SINCE,
    O_UNTIL,
    O_IP,
    O_PATH,
    O_RULE,
    O_FILE,
    O_TEXT,
    O_JSON,
    O_LIMIT,
    O_FORMAT,
    O_TO,
    O_DRY,
    O_SEQ,
    O_SIZE,
    O_CONSIST,
    O_FOLLOW,
    O_LINES,
    O_HELP,
    O_COUNT,
    O_QUIET,
};

static const struct option opts[] = {
    {"dir", required_argument, NULL, O_DIR},
    {"key", required_argument, NULL, O_KEY},
    {"socket", required_argument, NULL, O_SOCKET},
    {"durability", required_argument, NULL, O_DURABILITY},
    {"group-ms", required_argument, NULL, O_GROUP_MS},
    {"checkpoint-every", required_argument, NULL, O_CP_EVERY},
    {"checkpoint-secs", required_argument, NULL, O_CP_SECS},
    {"segment-mb", required_argument, NULL, O_SEG_MB},
    {"segment-secs", required_argument, NULL, O_SEG_SECS},
    {"syslog", required_argument, NULL, O_SYSLOG},
    {"allow-uid", required_argument, NULL, O_ALLOW_UID},
    {"keep", required_argument, NULL, O_KEEP},
    {"compress-after", required_argument, NULL, O_COMPRESS},
    {"source", required_argument, NULL, O_SOURCE},
    {"type", required_argument, NULL, O_TYPE},
    {"pubkey", required_argument, NULL, O_PUBKEY},
    {"trusted", required_argument, NULL, O_TRUSTED},
    {"strict", no_argument, NULL, O_STRICT},
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"ip", required_argument, NULL, O_IP},
    {"path", required_argument, NULL, O_PATH},
    {"rule", required_argument, NULL, O_RULE},
    {"file", required_argument, NULL, O_FILE},
    {"text", required_argument, NULL, O_TEXT},
    {"json", no_argument, NULL, O_JSON},
    {"limit", required_argument, NULL, O_LIMIT},
    {"format", required_argument, NULL, O_FORMAT},
    {"to", required_argument, NULL, O_TO},
    {"dry-run", no_argument, NULL, O_DRY},
    {"seq", required_argument, NULL, O_SEQ},
    {"size", required_argument, NULL, O_SIZE},
    {"consistency", required_argument, NULL, O_CONSIST},
    {"follow", no_argument, NULL, O_FOLLOW},
    {"lines", required_argument, NULL, O_LINES},
    {"count", required_argument, NULL, O_COUNT},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

struct args {
    const char *dir, *key, *socket, *syslog, *pubkey, *trusted, *to;
    const char *source, *type, *keep, *compress;
    struct sk_evlog_config cfg;
    struct sk_evlog_server_config srv;
    struct sk_evlog_query q;
    bool strict, json, dry, follow, quiet;
    enum sk_evlog_format fmt;
    bool fmt_set;
    uint64_t limit, seq, size, cons_m, cons_n, lines, count;
    const char *body;
};

static const char usage_text[] =
    "usage: sekimori log COMMAND [OPTIONS]\n"
    "\n"
    "  keygen  --key PATH                 new Ed25519 key (PATH, PATH.pub)\n"
    "  serve   --dir D --key K --socket S [--durability none|group|record]\n"
    "          [--group-ms N] [--checkpoint-every N] [--checkpoint-secs N]\n"
    "          [--segment-mb N] [--segment-secs N] [--syslog TARGET]\n"
    "          [--allow-uid UID]... [--keep DUR [--compress-after DUR]]\n"
    "  append  (--socket S | --dir D --key K) --source S --type T [JSON|-]\n"
    "          [--count N]                 (N copies, for tests)\n"
    "  verify  --dir D [--pubkey P] [--trusted FILE] [--strict] [--quiet]\n"
    "  query   --dir D [FILTERS] [--json] [--limit N]\n"
    "  tail    --dir D [-f|--follow] [--lines N] [FILTERS] [--json]\n"
    "  export  --dir D --format syslog|jsonl [--to TARGET] [FILTERS]\n"
    "  prune   --dir D --key K --keep DUR [--compress-after DUR] [--dry-run]\n"
    "  prove   --dir D --seq N [--size M] | --consistency M:N\n"
    "  recover --dir D --key K            run crash recovery and report\n"
    "\n"
    "FILTERS: --since T --until T --source S --type T --ip A --path P\n"
    "         --rule ID --file F --text S   (T: RFC 3339, @epoch, -1h, -7d)\n"
    "DUR: 90d, 13m (months of 31 days), 1y, 12h, 3600s\n"
    "TARGET: unix:/dev/log, udp:127.0.0.1:514, tcp:127.0.0.1:514\n";

static int
usage(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "sekimori log: %s\n", msg);
    fputs(usage_text, stderr);
    return SK_EXIT_USAGE;
}

static int
num(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

static int
parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof(*a));
    a->cfg.durability = SK_EVLOG_SYNC_GROUP;
    a->srv.stop = &stop_flag;
    uint64_t now = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        uint64_t v = 0;
        switch (c) {
        case O_DIR:
            a->dir = optarg;
            break;
        case O_KEY:
            a->key = optarg;
            break;
        case O_SOCKET:
            a->socket = optarg;
            break;
        case O_DURABILITY:
            if (sk_evlog_durability_parse(optarg, &a->cfg.durability) != 0)
                return usage("--durability: none, group or record");
            break;
        case O_GROUP_MS:
        case O_CP_EVERY:
        case O_CP_SECS:
        case O_SEG_MB:
        case O_SEG_SECS:
        case O_ALLOW_UID:
        case O_LIMIT:
        case O_SEQ:
        case O_SIZE:
        case O_LINES:
        case O_COUNT:
            if (num(optarg, &v) != 0)
                return usage("expected a number");
            if (c == O_GROUP_MS)
                a->cfg.group_ms = v > 1000 ? 1000 : (unsigned)v;
            else if (c == O_CP_EVERY)
                a->cfg.checkpoint_every = v;
            else if (c == O_CP_SECS)
                a->cfg.checkpoint_secs = (unsigned)v;
            else if (c == O_SEG_MB)
                a->cfg.segment_bytes = v << 20;
            else if (c == O_SEG_SECS)
                a->cfg.segment_secs = (unsigned)v;
            else if (c == O_ALLOW_UID) {
                if (a->srv.nuids == SK_EVLOG_MAX_UIDS)
                    return usage("too many --allow-uid");
                a->srv.uids[a->srv.nuids++] = (unsigned)v;
            } else if (c == O_LIMIT)
                a->limit = v;
            else if (c == O_SEQ)
                a->seq = v;
            else if (c == O_SIZE)
                a->size = v;
            else if (c == O_LINES)
                a->lines = v;
            else
                a->count = v;
            break;
        case O_SYSLOG:
            a->syslog = optarg;
            break;
        case O_KEEP:
            a->keep = optarg;
            break;
        case O_COMPRESS:
            a->compress = optarg;
            break;
        case O_SOURCE:
            a->source = a->q.source = optarg;
            break;
        case O_TYPE:
            a->type = a->q.type = optarg;
            break;
        case O_PUBKEY:
            a->pubkey = optarg;
            break;
        case O_TRUSTED:
            a->trusted = optarg;
            break;
        case O_STRICT:
            a->strict = true;
            break;
        case O_SINCE:
        case O_UNTIL:
            if (sk_evlog_time_parse(optarg, now,
                                    c == O_SINCE ? &a->q.since_ns
                                                 : &a->q.until_ns) != 0)
                return usage("bad time (RFC 3339, @epoch, -1h)");
            break;
        case O_IP:
            a->q.client_ip = optarg;
            break;
        case O_PATH:
            a->q.path = optarg;
            break;
        case O_RULE:
            a->q.rule_id = optarg;
            break;
        case O_FILE:
            a->q.file = optarg;
            break;
        case O_TEXT:
            a->q.text = optarg;
            break;
        case O_JSON:
            a->json = true;
            break;
        case O_FORMAT:
            a->fmt_set = true;
            if (strcmp(optarg, "syslog") == 0)
                a->fmt = SK_EVLOG_FMT_SYSLOG;
            else if (strcmp(optarg, "jsonl") == 0)
                a->fmt = SK_EVLOG_FMT_JSONL;
            else
                return usage("--format: syslog or jsonl");
            break;
        case O_TO:
            a->to = optarg;
            break;
        case O_DRY:
            a->dry = true;
            break;
        case O_CONSIST: {
            char *colon = strchr(optarg, ':');
            if (colon == NULL)
                return usage("--consistency M:N");
            *colon = '\0';
            if (num(optarg, &a->cons_m) != 0 || num(colon + 1, &a->cons_n) != 0)
                return usage("--consistency M:N");
            break;
        }
        case 'f':
        case O_FOLLOW:
            a->follow = true;
            break;
        case O_QUIET:
            a->quiet = true;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return -1;
        default:
            return usage(NULL);
        }
    }
    if (optind < argc)
        a->body = argv[optind++];
    if (optind < argc)
        return usage("too many arguments");
    a->cfg.dir = a->dir;
    a->cfg.key_path = a->key;
    a->cfg.syslog_target = a->syslog;
    a->srv.socket_path = a->socket;
    return 0;
}

static int
exit_of(int rc)
{
    if (rc == 0)
        return SK_EXIT_OK;
    if (rc == -SK_ECORRUPT || rc == -SK_EPARSE || rc == -SK_EINVAL ||
        rc == -SK_ELIMIT)
        return SK_EXIT_FAIL;
    return SK_EXIT_INTERNAL;
}

static void
hexout(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static int
cmd_keygen(struct args *a)
{
    if (a->key == NULL)
        return usage("keygen needs --key PATH");
    int rc = sk_evlog_keygen(a->key);
    if (rc != 0) {
        fprintf(stderr, "sekimori log keygen: %s: %s\n", a->key,
                sk_strerror(rc));
        return rc == -SK_EEXIST ? SK_EXIT_USAGE : SK_EXIT_INTERNAL;
    }
    printf("private key %s (mode 0600), public key %s.pub\n", a->key, a->key);
    return SK_EXIT_OK;
}

static void
print_recovery(const struct sk_evlog_recovery *r)
{
    if (r->cut_bytes > 0)
        fprintf(stderr,
                "sekimori log: recovery cut an incomplete tail record: %s "
                "offset %" PRIu64 " (%" PRIu64 " bytes)\n",
                r->cut_segment, r->cut_offset, r->cut_bytes);
    if (r->checkpoints_cut > 0)
        fprintf(stderr,
                "sekimori log: recovery cut a torn checkpoint line (%" PRIu64
                " bytes)\n",
                r->checkpoints_cut);
}

static int
open_log(struct args *a, struct sk_evlog **log)
{
    if (a->dir == NULL || a->key == NULL)
        return usage("needs --dir and --key");
    struct sk_evlog_recovery r;
    int rc = sk_evlog_open(&a->cfg, log, &r);
    if (rc != 0)
        return rc == -SK_EAGAIN || rc == -SK_ECORRUPT ? SK_EXIT_FAIL
                                                      : SK_EXIT_INTERNAL;
    print_recovery(&r);
    if (!a->quiet)
        fprintf(stderr, "sekimori log: %s: %" PRIu64 " records\n", a->dir,
                r.records);
    return 0;
}

static int
run_retention(struct args *a, const char *dir)
{
    struct sk_evlog_retention p = {.dry_run = a->dry};
    if (a->keep == NULL || sk_evlog_duration_parse(a->keep, &p.keep_secs))
        return usage("--keep DUR (90d, 13m, 1y)");
    if (a->compress != NULL &&
        sk_evlog_duration_parse(a->compress, &p.compress_secs) != 0)
        return usage("--compress-after DUR");
    const char *fake = getenv("SK_EVLOG_NOW");
    if (fake != NULL) {
        uint64_t v;
        if (num(fake, &v) == 0)
            p.now_ns = v * 1000000000ULL;
    }
    struct sk_buf out = {0};
    int rc = sk_evlog_retain(dir, a->key, &p, &out);
    fwrite(out.p, 1, out.len, stdout);
    sk_buf_fini(&out);
    if (rc != 0)
        fprintf(stderr, "sekimori log prune: %s\n",
                rc == -SK_EAGAIN ? "a writer owns the log" : sk_strerror(rc));
    return exit_of(rc);
}

static int
cmd_serve(struct args *a)
{
    if (a->socket == NULL)
        return usage("serve needs --socket");
    struct sk_evlog *log;
    int rc = open_log(a, &log);
    if (rc != 0)
        return rc;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sk_evlog_retention ret = {0};
    if (a->keep != NULL) {
        if (sk_evlog_duration_parse(a->keep, &ret.keep_secs) != 0 ||
            (a->compress != NULL &&
             sk_evlog_duration_parse(a->compress, &ret.compress_secs) != 0)) {
            sk_evlog_close(log);
            return usage("--keep DUR [--compress-after DUR]");
        }
        a->srv.retention = &ret;
    }
    rc = sk_evlog_serve(log, &a->srv);
    if (rc != 0)
        fprintf(stderr, "sekimori log serve: %s: %s\n", a->socket,
                sk_strerror(rc));
    int crc = sk_evlog_close(log);
    return rc != 0 || crc != 0 ? SK_EXIT_INTERNAL : SK_EXIT_OK;
}

static int
read_body(struct args *a, struct sk_buf *b)
{
    if (a->body == NULL)
        return -1;
    if (strcmp(a->body, "-") != 0)
        return sk_buf_append_c(b, a->body);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (b->len + n > SK_EVLOG_MAX_BODY || sk_buf_append(b, chunk, n))
            return -SK_ELIMIT;
    return 0;
}

static int
cmd_append(struct args *a)
{
    if (a->source == NULL || a->type == NULL)
        return usage("append needs --source and --type");
    struct sk_buf body = {0};
    if (read_body(a, &body) != 0) {
        sk_buf_fini(&body);
        return usage("append needs a JSON body (or - for stdin)");
    }
    uint64_t count = a->count ? a->count : 1, seq = 0;
    int rc = 0;
    struct sk_str src = sk_str_c(a->source), typ = sk_str_c(a->type);
    if (a->socket != NULL) {
        struct sk_evlog_client *c;
        rc = sk_evlog_client_connect(a->socket, &c);
        if (rc != 0) {
            fprintf(stderr, "sekimori log append: %s: %s\n", a->socket,
                    sk_strerror(rc));
            sk_buf_fini(&body);
            return SK_EXIT_INTERNAL;
        }
        uint64_t sent = 0, got = 0;
        while (got < count && rc == 0) {
            while (sent < count && sent - got < 1000 && rc == 0) {
                rc = sk_evlog_client_send(c, src, typ, sk_buf_str(&body));
                sent++;
            }
            while (rc == 0 && got < sent) {
                rc = sk_evlog_client_recv(c, &seq);
                got++;
                /* Print acknowledged (durable) sequence numbers as we go. */
                if (rc == 0 && count > 1 && !a->quiet)
                    printf("%" PRIu64 "\n", seq);
            }
        }
        if (rc != 0)
            fprintf(stderr, "sekimori log append: %s\n",
                    sk_evlog_client_error(c));
        sk_evlog_client_close(c);
    } else {
        struct sk_evlog *log;
        a->quiet = true;
        rc = open_log(a, &log);
        if (rc != 0) {
            sk_buf_fini(&body);
            return rc;
        }
        for (uint64_t i = 0; i < count && rc == 0; i++)
            rc = sk_evlog_append(log, src, typ, sk_buf_str(&body), &seq);
        if (rc == 0)
            rc = sk_evlog_commit(log);
        if (rc != 0)
            fprintf(stderr, "sekimori log append: %s\n",
                    *sk_evlog_last_error(log) ? sk_evlog_last_error(log)
                                              : sk_strerror(rc));
        int crc = sk_evlog_close(log);
        if (rc == 0)
            rc = crc;
    }
    sk_buf_fini(&body);
    if (rc == 0 && count == 1)
        printf("%" PRIu64 "\n", seq);
    return exit_of(rc);
}

static int
cmd_verify(struct args *a)
{
    if (a->dir == NULL)
        return usage("verify needs --dir");
    struct sk_evlog_verify_opts o = {.dir = a->dir,
                                     .pubkey_path = a->pubkey,
                                     .trusted_path = a->trusted,
                                     .strict = a->strict};
    struct sk_evlog_verify_report r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sk_evlog_verify(&o, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (r.note[0] != '\0' && !a->quiet)
        fprintf(stderr, "note: %s\n", r.note);
    if (rc == 0) {
        printf("OK: records %" PRIu64 "..%" PRIu64 " (%" PRIu64
               " records, %" PRIu64 " bytes, %" PRIu64
               " checkpoints verified%s) in %.3f s\n",
               r.first_seq, r.last_seq, r.records, r.bytes, r.checkpoints,
               r.anchored ? ", from a signed anchor" : "", secs);
        return SK_EXIT_OK;
    }
    printf("FAIL: first bad record %" PRIu64 ": %s\n", r.bad_seq, r.why);
    return rc == -SK_ECORRUPT ? SK_EXIT_FAIL : SK_EXIT_INTERNAL;
}

static int
emit(struct sk_buf *b, struct sk_evlog_syslog *sl)
{
    if (sl == NULL) {
        if (fwrite(b->p, 1, b->len, stdout) != b->len)
            return -SK_EIO;
        return 0;
    }
    return sk_evlog_syslog_send(sl, sk_str_make(b->p, b->len - 1));
}

/* query, tail and export share one loop over the reader. */
static int
scan_out(struct args *a, enum sk_evlog_format fmt, bool tail)
{
    if (a->dir == NULL)
        return usage("needs --dir");
    struct sk_evlog_reader *r;
    int rc = sk_evlog_reader_open(a->dir, &r);
    if (rc != 0) {
        fprintf(stderr, "sekimori log: %s: %s\n", a->dir, sk_strerror(rc));
        return SK_EXIT_INTERNAL;
    }
    struct sk_evlog_syslog *sl = NULL;
    if (a->to != NULL && (rc = sk_evlog_syslog_open(a->to, &sl)) != 0) {
        fprintf(stderr, "sekimori log export: %s: %s\n", a->to,
                sk_strerror(rc));
        sk_evlog_reader_free(r);
        return SK_EXIT_INTERNAL;
    }
    char host[256] = "-";
    gethostname(host, sizeof(host) - 1);
    if (a->q.since_ns != 0)
        sk_evlog_reader_seek_time(r, a->q.since_ns);
    struct sk_buf out = {0};
    /* tail without -f shows the last N matches: keep them in a ring. */
    uint64_t nlines = tail ? (a->lines ? a->lines : 10) : 0;
    struct sk_buf *ring = NULL;
    uint64_t matched = 0;
    if (tail && !a->follow) {
        ring = calloc((size_t)nlines, sizeof(*ring));
        if (ring == NULL) {
            sk_evlog_reader_free(r);
            return SK_EXIT_INTERNAL;
        }
    }
    signal(SIGPIPE, SIG_DFL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool caught_up = false;
    for (;;) {
        struct sk_evlog_record rec;
        rc = sk_evlog_reader_next(r, &rec);
        if (rc == -SK_ENOENT) {
            rc = 0;
            if (!(tail && a->follow) || stop_flag)
                break;
            if (!caught_up && ring == NULL)
                fflush(stdout);
            caught_up = true;
            fflush(stdout);
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "sekimori log: %s\n", sk_evlog_reader_error(r));
            break;
        }
        if (!sk_evlog_query_match(&a->q, &rec))
            continue;
        if (tail && a->follow && !caught_up)
            continue; /* follow starts at the end */
        sk_buf_clear(&out);
        if ((rc = sk_evlog_format_record(&rec, fmt, host, &out)) != 0)
            break;
        if (ring != NULL) {
            struct sk_buf *slot = &ring[matched % nlines];
            sk_buf_clear(slot);
            if ((rc = sk_buf_append(slot, out.p, out.len)) != 0)
                break;
        } else if ((rc = emit(&out, sl)) != 0) {
            break;
        }
        matched++;
        if (a->limit != 0 && matched >= a->limit && !tail)
            break;
    }
    if (ring != NULL) {
        uint64_t first = matched > nlines ? matched - nlines : 0;
        for (uint64_t i = first; rc == 0 && i < matched; i++)
            rc = emit(&ring[i % nlines], sl);
        for (uint64_t i = 0; i < nlines; i++)
            sk_buf_fini(&ring[i]);
        free(ring);
    }
    fflush(stdout);
    sk_buf_fini(&out);
    sk_evlog_syslog_close(sl);
    sk_evlog_reader_free(r);
    return rc == 0 ? SK_EXIT_OK : exit_of(rc);
}

static int
cmd_prove(struct args *a)
{
    if (a->dir == NULL)
        return usage("prove needs --dir");
    uint8_t proof[64][SK_EVLOG_HASH_LEN];
    size_t plen = 0;
    if (a->cons_n != 0) {
        uint8_t r1[32], r2[32];
        int rc = sk_evlog_prove_consistency(a->dir, a->cons_m, a->cons_n, r1,
                                            r2, proof, &plen);
        if (rc != 0) {
            fprintf(stderr, "sekimori log prove: %s\n", sk_strerror(rc));
            return exit_of(rc);
        }
        printf("consistency %" PRIu64 " -> %" PRIu64 " verified\nroot1 ",
               a->cons_m, a->cons_n);
        hexout(r1, 32);
        printf("\nroot2 ");
        hexout(r2, 32);
    } else {
        if (a->seq == 0)
            return usage("prove needs --seq N or --consistency M:N");
        uint8_t leaf[32], root[32];
        uint64_t size = a->size ? a->size : a->seq;
        int rc = sk_evlog_prove_inclusion(a->dir, a->seq, size, leaf, root,
                                          proof, &plen);
        if (rc != 0) {
            fprintf(stderr, "sekimori log prove: %s\n", sk_strerror(rc));
            return exit_of(rc);
        }
        printf("inclusion of record %" PRIu64 " in tree of %" PRIu64
               " verified\nleaf ",
               a->seq, size);
        hexout(leaf, 32);
        printf("\nroot ");
        hexout(root, 32);
    }
    printf("\n");
    for (size_t i = 0; i < plen; i++) {
        printf("proof[%zu] ", i);
        hexout(proof[i], 32);
        printf("\n");
    }
    return SK_EXIT_OK;
}

static int
cmd_recover(struct args *a)
{
    struct sk_evlog *log;
    int rc = open_log(a, &log);
    if (rc != 0)
        return rc;
    printf("%" PRIu64 "\n", sk_evlog_committed_seq(log));
    return sk_evlog_close(log) == 0 ? SK_EXIT_OK : SK_EXIT_INTERNAL;
}

int
sk_cli_log(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return SK_EXIT_OK;
    }
    struct args a;
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc != 0)
        return rc < 0 ? SK_EXIT_OK : rc;
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(&a);
    if (strcmp(cmd, "serve") == 0) {
        return cmd_serve(&a);
    }
    if (strcmp(cmd, "append") == 0)
        return cmd_append(&a);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(&a);
    if (strcmp(cmd, "query") == 0)
        return scan_out(&a, a.json ? SK_EVLOG_FMT_JSONL : SK_EVLOG_FMT_TABLE,
                        false);
    if (strcmp(cmd, "tail") == 0)
        return scan_out(&a, a.json ? SK_EVLOG_FMT_JSONL : SK_EVLOG_FMT_TABLE,
                        true);
    if (strcmp(cmd, "export") == 0) {
        if (!a.fmt_set)
            return usage("export needs --format syslog|jsonl");
        return scan_out(&a, a.fmt, false);
    }
    if (strcmp(cmd, "prune") == 0) {
        if (a.dir == NULL || a.key == NULL)
            return usage("prune needs --dir and --key");
        return run_retention(&a, a.dir);
    }
    if (strcmp(cmd, "prove") == 0)
        return cmd_prove(&a);
    if (strcmp(cmd, "recover") == 0)
        return cmd_recover(&a);
    return usage("unknown command");
}
