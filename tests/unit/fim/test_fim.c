/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/fim: config parsing and its diagnostics, rule
 * selection, the signed baseline (round trip, forged or altered files
 * refused), the content store (dedup, verification, size cap), scanning and
 * comparing a generated tree, restore byte for byte, quarantine, and
 * allocation failures injected into the parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fim/fim.h"
#include "util/alloc.h"
#include "util/error.h"

static char tmpdir[256];

static void
sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void
write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static struct sk_fim_config *
conf_from(const char *text, struct sk_diag *d)
{
    struct sk_fim_config *c = NULL;
    sk_fim_config_parse("t.conf", (const uint8_t *)text, strlen(text), &c, d);
    return c;
}

static const char *
tree_conf(char *buf, size_t n, const char *extra)
{
    snprintf(buf, n,
             "baseline %s/state/fim.db\nkey %s/state/fim.key\n"
             "store %s/state/store\nquarantine %s/state/q\nthreads 2\n"
             "rule %s/www {\n include *.php *.js .htaccess\n"
             " exclude cache\n attrs all\n respond alert restore%s\n}\n",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, extra);
    return buf;
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sk-fim-unit.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    sh("mkdir -p %s/www/sub %s/www/cache %s/state && chmod 700 %s/state",
       tmpdir, tmpdir, tmpdir, tmpdir);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sh("rm -rf %s", tmpdir);
    return 0;
}

/* ---- config ------------------------------------------------------------ */

static void
test_attr_table(void **state)
{
    (void)state;
    /* Every bit has exactly one name, and the name parses back. */
    for (uint32_t b = 1; b <= SK_FIM_A_XATTRS; b <<= 1) {
        const char *n = sk_fim_attr_name(b);
        assert_non_null(n);
        assert_int_equal(sk_fim_attr_parse(n), b);
    }
    assert_int_equal(sk_fim_attr_parse("md5"), 0);
    /* The table is sorted by name, without duplicate names or bits, and
     * covers every bit of SK_FIM_A_ALL. */
    const char *name, *doc, *prev = NULL;
    uint32_t bit, seen = 0;
    size_t i = 0;
    for (; sk_fim_attr_row(i, &name, &bit, &doc) == 0; i++) {
        if (prev != NULL)
            assert_true(strcmp(prev, name) < 0);
        assert_int_equal(seen & bit, 0);
        assert_true(doc != NULL && doc[0] != '\0');
        seen |= bit;
        prev = name;
    }
    assert_int_equal(seen, SK_FIM_A_ALL);
}

static void
test_config_default(void **state)
{
    (void)state;
    struct sk_diag d = {0};
    struct sk_fim_config *c = conf_from(sk_fim_config_default(), &d);
    assert_non_null(c);
    assert_int_equal(d.errors, 0);
    assert_int_equal(c->n_rules, 4);
    const char *p = "/var/www/html/index.php";
    const struct sk_fim_rule *r = sk_fim_select(c, p, strlen(p), false);
    assert_non_null(r);
    assert_true(r->responses & SK_FIM_R_RESTORE);
    p = "/var/www/html/var/cache/x.php";
    assert_null(sk_fim_select(c, p, strlen(p), false));
    p = "/var/www/html/image.png";
    assert_null(sk_fim_select(c, p, strlen(p), false));
    p = "/var/www/html/.htaccess";
    assert_non_null(sk_fim_select(c, p, strlen(p), false));
    p = "/etc/nginx/nginx.conf";
    r = sk_fim_select(c, p, strlen(p), false);
    assert_non_null(r);
    assert_string_equal(r->root, "/etc/nginx");
    assert_false(r->responses & SK_FIM_R_RESTORE);
    p = "/etc/nginxx/a";
    assert_null(sk_fim_select(c, p, strlen(p), false));
    sk_fim_config_free(c);
    sk_diag_fini(&d);
}

static void
test_config_errors(void **state)
{
    (void)state;
    struct sk_diag d = {0};
    const char *text = "baseline /a\nkey /b\nstore /c\nquarantine /d\n"
                       "frobnicate 1\n"
                       "rule relative {\n"
                       "rule /x {\n"
                       "  attrs sha256 md5\n"
                       "  respond alert explode\n"
                       "  include /abs\n";
    assert_null(conf_from(text, &d));
    const char *t = sk_diag_text(&d);
    assert_non_null(strstr(t, "t.conf:5:1: error: unknown directive "
                              "'frobnicate'"));
    assert_non_null(strstr(t, "t.conf:6:6: error: path must be absolute"));
    assert_non_null(strstr(t, "t.conf:8:16: error: unknown attribute 'md5'"));
    assert_non_null(strstr(t, "t.conf:9:17: error: unknown response"));
    assert_non_null(strstr(t, "t.conf:10:11: error: patterns are relative"));
    assert_non_null(strstr(t, "t.conf:7:1: error: rule block for '/x' is "
                              "not closed"));
    sk_diag_fini(&d);

    struct sk_diag d2 = {0};
    assert_null(conf_from("rule /x {\n}\n", &d2));
    assert_non_null(strstr(sk_diag_text(&d2), "'baseline' is not set"));
    sk_diag_fini(&d2);

    struct sk_diag d3 = {0};
    assert_null(conf_from("baseline /a\nkey /b\nstore /c\nquarantine /d\n"
                          "rule /x {\n respond restore\n attrs mode\n}\n",
                          &d3));
    assert_non_null(strstr(sk_diag_text(&d3), "restores but does not check"));
    sk_diag_fini(&d3);

    struct sk_diag d4 = {0};
    assert_null(conf_from("baseline /a/../b\n", &d4));
    assert_non_null(strstr(sk_diag_text(&d4), "canonical"));
    sk_diag_fini(&d4);
}

static void
test_config_alloc_failures(void **state)
{
    (void)state;
    const char *text = sk_fim_config_default();
    for (unsigned long nth = 1; nth < 400; nth++) {
        struct sk_diag d = {0};
        struct sk_fim_config *c = NULL;
        sk_alloc_fail_at(nth, 0);
        int rc = sk_fim_config_parse("t", (const uint8_t *)text, strlen(text),
                                     &c, &d);
        sk_alloc_fail_at(0, 0);
        if (rc == 0)
            sk_fim_config_free(c);
        else
            assert_null(c);
        sk_diag_fini(&d);
    }
}

/* ---- baseline ------------------------------------------------------------ */

static struct sk_fim_key *
keypair(const char *name, bool priv)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/state/%s", tmpdir, name);
    struct stat st;
    if (stat(p, &st) != 0)
        assert_int_equal(sk_fim_keygen(p), 0);
    if (!priv)
        strcat(p, ".pub");
    struct sk_fim_key *k = NULL;
    assert_int_equal(sk_fim_key_load(p, priv, &k), 0);
    return k;
}

static struct sk_fim_db *
scan_tree(const char *extra)
{
    char cbuf[2048];
    struct sk_diag d = {0};
    struct sk_fim_config *c =
        conf_from(tree_conf(cbuf, sizeof(cbuf), extra), &d);
    assert_non_null(c);
    struct sk_fim_store *s = NULL;
    assert_int_equal(
        sk_fim_store_open(c->store, c->store_max_file, c->store_max_total, &s),
        0);
    struct sk_fim_db *db = NULL;
    struct sk_fim_scan_stats st;
    assert_int_equal(sk_fim_scan(c, s, &db, &st), 0);
    sk_fim_store_free(s);
    sk_fim_config_free(c);
    sk_diag_fini(&d);
    return db;
}

static void
make_tree(void)
{
    sh("rm -rf %s/www && mkdir -p %s/www/sub %s/www/cache", tmpdir, tmpdir,
       tmpdir);
    char p[512];
    for (int i = 0; i < 20; i++) {
        snprintf(p, sizeof(p), "%s/www/%s/f%d.php", tmpdir, i % 2 ? "sub" : ".",
                 i);
        char body[64];
        snprintf(body, sizeof(body), "<?php echo %d;\n", i);
        write_file(p, body);
    }
    snprintf(p, sizeof(p), "%s/www/cache/c.php", tmpdir);
    write_file(p, "cached");
    snprintf(p, sizeof(p), "%s/www/readme.txt", tmpdir);
    write_file(p, "not selected");
    sh("ln -s f0.php %s/www/link.php", tmpdir);
}

static unsigned
count_kind(const struct sk_fim_report *r, int kind, const char *suffix,
           uint32_t bits)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct sk_fim_change *c = &r->c[i];
        const struct sk_fim_entry *e = c->cur ? c->cur : c->old;
        size_t sl = strlen(suffix);
        if (c->kind == kind && e->path_len >= sl &&
            strcmp(e->path + e->path_len - sl, suffix) == 0 &&
            (c->changed & bits) == bits)
            n++;
    }
    return n;
}

static void
test_baseline_roundtrip_and_forgery(void **state)
{
    (void)state;
    make_tree();
    struct sk_fim_db *db = scan_tree("");
    /* root and sub/, 20 php, 1 symlink; cache/ pruned, readme skipped. */
    assert_int_equal(db->n, 23);
    db->generation = 7;
    db->who = "tester";
    db->why = "unit";
    struct sk_fim_key *k = keypair("fim.key", true);
    struct sk_fim_key *pub = keypair("fim.key", false);
    char path[512];
    snprintf(path, sizeof(path), "%s/state/fim.db", tmpdir);
    assert_int_equal(sk_fim_db_save(path, db, k), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct sk_fim_db *back = NULL;
    assert_int_equal(sk_fim_db_load(path, pub, &back), 0);
    assert_int_equal(back->n, db->n);
    assert_int_equal(back->generation, 7);
    assert_string_equal(back->why, "unit");
    struct sk_fim_report r;
    assert_int_equal(sk_fim_compare(db, back, &r), 0);
    assert_int_equal(r.n, 0);
    sk_fim_report_fini(&r);
    sk_fim_db_free(back);

    /* Every single flipped bit of the file is refused. */
    struct sk_buf b = {0};
    assert_int_equal(sk_fim_db_encode(db, k, &b), 0);
    for (size_t i = 0; i < b.len; i += 7) {
        b.p[i] ^= 0x10;
        FILE *f = fopen(path, "w");
        fwrite(b.p, 1, b.len, f);
        fclose(f);
        assert_int_equal(sk_fim_db_load(path, pub, &back), -SK_ECORRUPT);
        assert_null(back);
        b.p[i] ^= 0x10;
    }
    /* Truncated. */
    FILE *f = fopen(path, "w");
    fwrite(b.p, 1, b.len - 1, f);
    fclose(f);
    assert_int_equal(sk_fim_db_load(path, pub, &back), -SK_ECORRUPT);
    /* Signed by another key (a forgery with a key the attacker made). */
    struct sk_fim_key *evil = keypair("evil.key", true);
    assert_int_equal(sk_fim_db_save(path, db, evil), 0);
    assert_int_equal(sk_fim_db_load(path, pub, &back), -SK_ECORRUPT);
    /* The structural parser alone accepts the well-formed encoding and
     * refuses every truncation. */
    assert_int_equal(sk_fim_db_parse(b.p, b.len, &back), 0);
    sk_fim_db_free(back);
    for (size_t n = 0; n < b.len; n += 3) {
        back = NULL;
        assert_int_not_equal(sk_fim_db_parse(b.p, n, &back), 0);
        assert_null(back);
    }
    for (unsigned long nth = 1; nth < 60; nth++) {
        sk_alloc_fail_at(nth, 0);
        int rc = sk_fim_db_parse(b.p, b.len, &back);
        sk_alloc_fail_at(0, 0);
        if (rc == 0)
            sk_fim_db_free(back);
    }
    sk_buf_fini(&b);
    sk_fim_key_free(k);
    sk_fim_key_free(pub);
    sk_fim_key_free(evil);
    sk_fim_db_free(db);
}

static void
test_key_permissions(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/state/perm.key", tmpdir);
    assert_int_equal(sk_fim_keygen(p), 0);
    assert_int_equal(sk_fim_keygen(p), -SK_EEXIST);
    chmod(p, 0640);
    struct sk_fim_key *k = NULL;
    assert_int_equal(sk_fim_key_load(p, true, &k), -SK_EINVAL);
    assert_null(k);
}

/* ---- store -------------------------------------------------------------- */

static void
test_store(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/state/st", tmpdir);
    struct sk_fim_store *s = NULL;
    assert_int_equal(sk_fim_store_open(dir, 1000, 1 << 20, &s), 0);
    const char *data = "<?php echo 'hello';";
    uint8_t sha[32];
    struct sk_fim_entry e = {0};
    char fp[512];
    snprintf(fp, sizeof(fp), "%s/state/x.php", tmpdir);
    write_file(fp, data);
    struct sk_arena *a = sk_arena_new(0);
    assert_int_equal(sk_fim_entry_read(fp, strlen(fp), SK_FIM_A_ALL, a, &e), 0);
    memcpy(sha, e.sha256, 32);
    bool added = false;
    uint64_t w = 0;
    assert_int_equal(sk_fim_store_put(s, sha, (const uint8_t *)data,
                                      strlen(data), NULL, &added, &w),
                     0);
    assert_true(added);
    assert_int_equal(sk_fim_store_put(s, sha, (const uint8_t *)data,
                                      strlen(data), NULL, &added, &w),
                     0);
    assert_false(added); /* deduplicated */
    struct sk_buf b = {0};
    assert_int_equal(sk_fim_store_get(s, sha, &b), 0);
    assert_int_equal(b.len, strlen(data));
    assert_memory_equal(b.p, data, b.len);
    /* Too large for the cap. */
    char big[2000];
    memset(big, 'a', sizeof(big));
    assert_int_equal(
        sk_fim_store_put(s, sha, (uint8_t *)big, sizeof(big), NULL, &added, &w),
        -SK_ELIMIT);
    /* An object replaced by other (valid zstd) content is refused. */
    uint8_t other[32];
    memset(other, 0x42, sizeof(other));
    assert_int_equal(sk_fim_store_put(s, other, (const uint8_t *)"evil", 4,
                                      NULL, &added, &w),
                     0);
    assert_int_equal(sk_fim_store_get(s, other, &b), -SK_ECORRUPT);
    uint8_t none[32] = {0};
    assert_int_equal(sk_fim_store_get(s, none, &b), -SK_ENOENT);
    /* A world-writable store is refused. */
    sk_fim_store_free(s);
    chmod(dir, 0777);
    assert_int_equal(sk_fim_store_open(dir, 1000, 1 << 20, &s), -SK_ECORRUPT);
    chmod(dir, 0700);
    sk_buf_fini(&b);
    sk_arena_free(a);
}

/* ---- scan, compare, restore --------------------------------------------- */

static void
test_scan_compare_restore(void **state)
{
    (void)state;
    make_tree();
    struct sk_fim_db *base = scan_tree("");
    char p[512], q[512];
    /* content change */
    snprintf(p, sizeof(p), "%s/www/f0.php", tmpdir);
    write_file(p, "<?php evil(1);\n");
    /* content change with the old mtime put back */
    snprintf(p, sizeof(p), "%s/www/f2.php", tmpdir);
    snprintf(q, sizeof(q), "%s/state/ref", tmpdir);
    sh("touch -r %s %s && printf '<?php echo 9;\\n' > %s && touch -r %s %s", p,
       q, p, q, p);
    /* mode, new file, deleted file, symlink swap */
    snprintf(p, sizeof(p), "%s/www/f4.php", tmpdir);
    chmod(p, 0666);
    snprintf(p, sizeof(p), "%s/www/new.php", tmpdir);
    write_file(p, "new");
    snprintf(p, sizeof(p), "%s/www/sub/f1.php", tmpdir);
    unlink(p);
    sh("ln -s /etc/passwd %s/www/t && mv -T %s/www/t %s/www/link.php", tmpdir,
       tmpdir, tmpdir);
    /* touch only */
    sh("touch -d '2001-01-01' %s/www/f6.php", tmpdir);
    /* excluded and unselected changes are not reported */
    sh("echo x >> %s/www/cache/c.php && echo y >> %s/www/readme.txt", tmpdir,
       tmpdir);

    struct sk_fim_db *cur = scan_tree("");
    struct sk_fim_report r;
    assert_int_equal(sk_fim_compare(base, cur, &r), 0);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f0.php",
                                SK_FIM_A_SHA256 | SK_FIM_A_SIZE),
                     1);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f2.php", SK_FIM_A_SHA256),
                     1);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f2.php", SK_FIM_A_MTIME),
                     0);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f4.php", SK_FIM_A_MODE),
                     1);
    assert_int_equal(count_kind(&r, SK_FIM_ADDED, "/new.php", 0), 1);
    assert_int_equal(count_kind(&r, SK_FIM_REMOVED, "/sub/f1.php", 0), 1);
    assert_int_equal(
        count_kind(&r, SK_FIM_CHANGED, "/link.php", SK_FIM_A_TARGET), 1);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f6.php", SK_FIM_A_MTIME),
                     1);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/f6.php", SK_FIM_A_SHA256),
                     0);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/c.php", 0), 0);
    assert_int_equal(count_kind(&r, SK_FIM_CHANGED, "/readme.txt", 0), 0);
    assert_int_equal(sk_fim_report_exit(&r),
                     SK_FIM_ADDED | SK_FIM_REMOVED | SK_FIM_CHANGED);
    /* JSON report is produced and well delimited. */
    char *js = NULL;
    size_t jl = 0;
    FILE *mf = open_memstream(&js, &jl);
    assert_int_equal(sk_fim_report_json(&r, mf), 0);
    fclose(mf);
    assert_non_null(strstr(js, "\"sha256\":{\"old\":\""));
    assert_non_null(strstr(js, "\"mode\":{\"old\":\"0644\",\"new\":\"0666\"}"));
    free(js);
    sk_fim_report_fini(&r);

    /* Restore f0 (content), sub/f1 (deleted) and link.php (swapped). */
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/state/store", tmpdir);
    struct sk_fim_store *s = NULL;
    assert_int_equal(sk_fim_store_open(dir, 1 << 20, 1 << 30, &s), 0);
    const char *names[] = {"/www/f0.php", "/www/sub/f1.php", "/www/link.php",
                           "/www/f4.php"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", tmpdir, names[i]);
        struct sk_fim_entry *e = sk_fim_db_find(base, p, strlen(p));
        assert_non_null(e);
        assert_int_equal(sk_fim_restore(s, e), 0);
    }
    snprintf(p, sizeof(p), "%s/www/f0.php", tmpdir);
    sh("printf '<?php echo 0;\\n' | cmp - %s", p);
    snprintf(p, sizeof(p), "%s/www/sub/f1.php", tmpdir);
    sh("printf '<?php echo 1;\\n' | cmp - %s", p);
    struct stat st;
    snprintf(p, sizeof(p), "%s/www/f4.php", tmpdir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    struct sk_fim_db *after = scan_tree("");
    assert_int_equal(sk_fim_compare(base, after, &r), 0);
    /* Restored entries differ only in inode and ctime (a rename). */
    for (size_t i = 0; i < r.n; i++) {
        const struct sk_fim_change *c = &r.c[i];
        const struct sk_fim_entry *e = c->cur ? c->cur : c->old;
        if (strstr(e->path, "f0.php") || strstr(e->path, "f1.php") ||
            strstr(e->path, "link.php") || strstr(e->path, "f4.php"))
            assert_int_equal(c->changed & ~(SK_FIM_A_INODE | SK_FIM_A_CTIME),
                             0);
    }
    sk_fim_report_fini(&r);

    /* A directory swapped for a symlink below the root: restoring a file
     * under it would write through the symlink; it is refused. */
    sh("mkdir -p %s/state/elsewhere && mv %s/www/sub %s/www/sub.old && "
       "ln -s %s/state/elsewhere %s/www/sub",
       tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    snprintf(p, sizeof(p), "%s/www/sub/f3.php", tmpdir);
    struct sk_fim_entry *victim = sk_fim_db_find(base, p, strlen(p));
    assert_non_null(victim);
    assert_int_equal(sk_fim_restore(s, victim), -SK_ECORRUPT);
    sh("test -z \"$(ls -A %s/state/elsewhere)\"", tmpdir);
    sh("rm %s/www/sub && mv %s/www/sub.old %s/www/sub", tmpdir, tmpdir, tmpdir);

    /* Quarantine keeps the bytes and the metadata. */
    snprintf(p, sizeof(p), "%s/www/f2.php", tmpdir);
    snprintf(q, sizeof(q), "%s/state/q", tmpdir);
    char name[128];
    struct sk_fim_writer wr = {.pid = 4242, .uid = 33};
    strcpy(wr.exe, "/usr/sbin/php-fpm");
    assert_int_equal(sk_fim_quarantine(q, p, &wr, "test", name, sizeof(name)),
                     0);
    sh("cmp %s %s/%s/data", p, q, name);
    sh("grep -q '\"pid\":4242' %s/%s/meta.json", q, name);
    sh("test \"$(stat -c %%a %s/%s)\" = 700", q, name);

    sk_fim_store_free(s);
    sk_fim_db_free(after);
    sk_fim_db_free(cur);
    sk_fim_db_free(base);
}

/* xattrs (and so POSIX ACLs, which are xattrs) are digested when asked. */
static void
test_xattrs(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/state/xa.php", tmpdir);
    write_file(p, "<?php");
    struct sk_arena *a = sk_arena_new(0);
    struct sk_fim_entry before, after, plain;
    assert_int_equal(sk_fim_entry_read(p, strlen(p), SK_FIM_A_ALL, a, &before),
                     0);
    assert_true(before.flags & SK_FIM_E_XATTR);
    if (setxattr(p, "user.sekimori", "1", 1, 0) == -1) {
        sk_arena_free(a);
        skip(); /* the filesystem has no user xattrs */
    }
    assert_int_equal(sk_fim_entry_read(p, strlen(p), SK_FIM_A_ALL, a, &after),
                     0);
    assert_int_equal(sk_fim_entry_diff(&before, &after) & SK_FIM_A_XATTRS,
                     SK_FIM_A_XATTRS);
    /* Without the attribute, the same change is not looked at. */
    assert_int_equal(sk_fim_entry_read(p, strlen(p),
                                       SK_FIM_A_ALL & ~SK_FIM_A_XATTRS, a,
                                       &plain),
                     0);
    assert_false(plain.flags & SK_FIM_E_XATTR);
    sk_arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attr_table),
        cmocka_unit_test(test_config_default),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_alloc_failures),
        cmocka_unit_test(test_baseline_roundtrip_and_forgery),
        cmocka_unit_test(test_key_permissions),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_scan_compare_restore),
        cmocka_unit_test(test_xattrs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
